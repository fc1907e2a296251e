//! Per-criterion aggregates, computed while the export streams the period's events.
//!
//! Each criterion sees only its evidence events, in seq order, one at a time; it keeps
//! aggregates bounded by the number of *things* (agents, incidents, policy versions, webhook
//! endpoints), never by the number of events, so a 10 M-event period exports in bounded memory.
//! Events are read from their `data` as the log holds them: fields this module does not know
//! are ignored, missing fields read as absent, never as an error (the log is the source of truth,
//! this is a summary of it).

use crate::facts::{Facts, FactsBuilder, RuleResult};
use crate::framework::{Analysis, Framework};
use gavel_events::{
    kind, AgentRegistered, AgentStatusChanged, AuthFailures, Decision, IncidentEvent, OutcomeRecorded,
    PolicyApplied, PolicyProposed, PolicyRejected, ToolCategoriesApplied, ToolCategoriesProposed,
    WebhookAttempts,
};
use gavel_ledger::event::Event;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One evidence row: the same fields in controls/<ID>.json and controls/<ID>.csv.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Row {
    pub seq: u64,
    pub time: String,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub outcome: String,
    pub detail: String,
    pub leaf_hash: String,
    /// The actor's name, as the period's events name it (empty when they do not).
    #[serde(default)]
    pub actor_name: String,
    #[serde(default)]
    pub agent_id: String,
    #[serde(default)]
    pub agent_name: String,
    #[serde(default)]
    pub tool: String,
    /// The decision the event is (`decision`) or refers to (approvals, outcomes, findings).
    #[serde(default)]
    pub decision_id: String,
    /// The policies that decided (`<set>/<policy id>@v<version>`, `; `-separated), or the policy
    /// set version a policy change is about (`<set>@v<version>`).
    #[serde(default)]
    pub policies: String,
}

impl Row {
    /// The fields in CSV order ([`CSV_HEADER`]), as the CSV writes them.
    pub fn fields(&self) -> [String; 14] {
        [
            self.seq.to_string(),
            self.time.clone(),
            self.kind.clone(),
            self.actor.clone(),
            self.subject.clone(),
            self.outcome.clone(),
            self.detail.clone(),
            self.leaf_hash.clone(),
            self.actor_name.clone(),
            self.agent_id.clone(),
            self.agent_name.clone(),
            self.tool.clone(),
            self.decision_id.clone(),
            self.policies.clone(),
        ]
    }
}

/// CSV header of controls/<ID>.csv (the order of [`Row`]'s fields).
pub const CSV_HEADER: [&str; 14] = [
    "seq",
    "time",
    "kind",
    "actor",
    "subject",
    "outcome",
    "detail",
    "leaf_hash",
    "actor_name",
    "agent_id",
    "agent_name",
    "tool",
    "decision_id",
    "policies",
];

/// Bundles before `gavel-evidence/4` have only the first eight columns.
pub const LEGACY_COLUMNS: usize = 8;

/// Most principals [`Names`] remembers (beyond it, later ones are simply not named).
const MAX_NAMES: usize = 100_000;

/// The names of users and agents, learnt in seq order from the identity events before the period
/// (context.jsonl, [`crate::context`]) and then from the period's events, so evidence rows can
/// name who beside ids. Names come only from log events the bundle carries and proves, so a
/// verifier learns the same names from context.jsonl and events.jsonl.
#[derive(Debug, Default)]
pub struct Names {
    by_id: BTreeMap<String, String>,
}

impl Names {
    fn remember(&mut self, id: Option<&str>, name: Option<&str>) {
        // A typed field reads as "" when absent: that names nobody.
        let (id, name) = (id.filter(|i| !i.is_empty()), name.filter(|n| !n.is_empty()));
        if let (Some(id), Some(name)) = (id, name) {
            if self.by_id.len() < MAX_NAMES || self.by_id.contains_key(id) {
                self.by_id.insert(id.to_string(), name.to_string());
            }
        }
    }

    /// Learns the names an event states. Call it for every event, in seq order.
    pub fn learn(&mut self, e: &Event) {
        let d = &e.data;
        match e.kind.as_str() {
            kind::USER_CREATED => {
                let u: gavel_events::UserCreated = gavel_events::read(d);
                self.remember(Some(&u.user_id), Some(&u.name))
            }
            kind::USER_ROLE_CHANGED => {
                let u: gavel_events::UserRoleChanged = gavel_events::read(d);
                self.remember(Some(&u.user_id), Some(&u.name))
            }
            kind::USER_DEACTIVATED => {
                let u: gavel_events::UserDeactivated = gavel_events::read(d);
                self.remember(Some(&u.user_id), Some(&u.name))
            }
            kind::USER_CREDENTIAL_ROTATED => {
                let u: gavel_events::CredentialRotated = gavel_events::read(d);
                self.remember(u.user_id.as_deref(), Some(&u.name))
            }
            "agent.registered" | "agent.suspended" | "agent.deactivated" | "agent.reactivated" => {
                self.remember(s(d, "agent_id"), s(d, "name").or_else(|| s(d, "agent_name")))
            }
            _ => {}
        }
        self.remember(s(d, "agent_id"), s(d, "agent_name"));
        self.remember(s(d, "approver"), s(d, "approver_name"));
        self.remember(s(d, "author"), s(d, "author_name"));
        self.remember(s(d, "approved_by"), s(d, "approved_by_name"));
    }

    fn name(&self, id: &str) -> String {
        self.by_id.get(id).cloned().unwrap_or_default()
    }

    /// The row of one event, with the names learnt so far (call [`Names::learn`] first).
    pub fn row(&self, event: &Event, leaf_hash: &str) -> Row {
        let d = &event.data;
        let mut r = row(event, leaf_hash);
        r.actor_name = match event.actor.kind.as_str() {
            "user" | "agent" => self.name(&event.actor.id),
            _ => event.actor.id.clone(),
        };
        r.agent_id = first_str(d, &["agent_id"]);
        r.agent_name = match s(d, "agent_name") {
            Some(n) => n.to_string(),
            None => self.name(&r.agent_id),
        };
        r.tool = first_str(d, &["tool"]);
        r.decision_id = first_str(d, &["decision_id"]);
        r.policies = if event.kind == "decision" {
            d.get("policies")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "{}/{}@v{}",
                        scalar(p.get("set_id")),
                        scalar(p.get("policy_id")),
                        scalar(p.get("version"))
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        } else if let (Some(set), Some(v)) = (s(d, "set_id"), d.get("version").filter(|v| !v.is_null())) {
            format!("{set}@v{}", scalar(Some(v)))
        } else {
            String::new()
        };
        r
    }
}

/// How bad a finding is: `fail` makes the criterion not satisfied, `warn` is for the reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: &'static str,
    pub message: String,
}

/// Read back from a bundle whole, as the verifier compares it: a field of its own is refused.
impl<'de> serde::Deserialize<'de> for Finding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Stated {
            level: String,
            message: String,
        }
        let f = Stated::deserialize(d)?;
        let level = ["fail", "warn"].into_iter().find(|l| *l == f.level).ok_or_else(|| {
            serde::de::Error::invalid_value(serde::de::Unexpected::Str(&f.level), &"\"fail\" or \"warn\"")
        })?;
        Ok(Finding { level, message: f.message })
    }
}

impl Finding {
    pub fn fail(message: String) -> Self {
        Finding { level: "fail", message }
    }
    fn warn(message: String) -> Self {
        Finding { level: "warn", message }
    }
}

fn s<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str)
}

fn first_str(data: &Value, keys: &[&str]) -> String {
    keys.iter().find_map(|k| s(data, k)).unwrap_or_default().to_string()
}

fn scalar(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(t)) => t.clone(),
        Some(other) => other.to_string(),
    }
}

/// A policy history line: what a policy change (or a pack change) says about the version it
/// is about and who proposed and approved it (`null` where the event does not say).
struct PolicyChangeRow {
    set_id: Value,
    version: Value,
    previous_version: Value,
    mode: Value,
    sha256: Value,
    change_id: Value,
    /// The text's author (name where the event has it).
    author: String,
    /// The approver (name where the event has it).
    approver: String,
    /// Who proposed and who approved it (ids), for the two-person rule.
    proposer: String,
    approved_by: String,
}

impl PolicyChangeRow {
    fn of(event_kind: &str, d: &Value) -> PolicyChangeRow {
        let none = || PolicyChangeRow {
            set_id: Value::Null,
            version: Value::Null,
            previous_version: Value::Null,
            mode: Value::Null,
            sha256: Value::Null,
            change_id: Value::Null,
            author: String::new(),
            approver: String::new(),
            proposer: String::new(),
            approved_by: String::new(),
        };
        match event_kind {
            kind::POLICY_PROPOSED => {
                let p: PolicyProposed = gavel_events::read(d);
                PolicyChangeRow {
                    set_id: json!(p.set_id),
                    version: json!(p.version),
                    mode: p.mode.unwrap_or_default(),
                    sha256: json!(p.sha256),
                    change_id: json!(p.change_id),
                    author: if p.author_name.is_empty() { p.author.clone() } else { p.author_name },
                    proposer: p.author,
                    ..none()
                }
            }
            kind::POLICY_ACTIVATED | kind::POLICY_DEACTIVATED | kind::POLICY_MODE_CHANGED => {
                let p: PolicyApplied = gavel_events::read(d);
                PolicyChangeRow {
                    set_id: json!(p.set_id),
                    version: json!(p.version),
                    previous_version: json!(p.previous_version),
                    mode: json!(p.mode),
                    sha256: json!(p.sha256),
                    change_id: json!(p.change_id),
                    author: p.text_author.unwrap_or_else(|| p.proposed_by.clone()),
                    approver: p.approved_by_name,
                    proposer: p.proposed_by,
                    approved_by: p.approved_by,
                }
            }
            kind::POLICY_REJECTED => {
                let p: PolicyRejected = gavel_events::read(d);
                PolicyChangeRow { set_id: json!(p.set_id), change_id: json!(p.change_id), ..none() }
            }
            // A tool category change has no policy set: its source (an upstream's configuration,
            // or an admin) stands in the set's place.
            kind::TOOLS_CATEGORIES_PROPOSED => {
                let p: ToolCategoriesProposed = gavel_events::read(d);
                PolicyChangeRow {
                    set_id: json!(p.source),
                    change_id: json!(p.change_id),
                    author: if p.proposed_by_name.is_empty() {
                        p.proposed_by.clone()
                    } else {
                        p.proposed_by_name
                    },
                    proposer: p.proposed_by,
                    ..none()
                }
            }
            kind::TOOLS_CATEGORIES_APPLIED => {
                let p: ToolCategoriesApplied = gavel_events::read(d);
                PolicyChangeRow {
                    set_id: json!(p.source),
                    change_id: json!(p.change_id),
                    author: if p.proposed_by_name.is_empty() {
                        p.proposed_by.clone()
                    } else {
                        p.proposed_by_name
                    },
                    approver: if p.approved_by_name.is_empty() {
                        p.approved_by.clone()
                    } else {
                        p.approved_by_name
                    },
                    proposer: p.proposed_by,
                    approved_by: p.approved_by,
                    ..none()
                }
            }
            // Pack changes (and policy kinds this build does not know), as they name themselves.
            _ => {
                let field = |k: &str| d.get(k).cloned().unwrap_or(Value::Null);
                PolicyChangeRow {
                    set_id: field("set_id"),
                    version: field("version"),
                    previous_version: field("previous_version"),
                    mode: field("mode"),
                    sha256: field("sha256"),
                    change_id: field("change_id"),
                    author: first_str(d, &["author_name", "author", "text_author", "proposed_by"]),
                    approver: first_str(d, &["approved_by_name", "approved_by"]),
                    proposer: first_str(d, &["proposed_by", "author"]),
                    approved_by: first_str(d, &["approved_by"]),
                }
            }
        }
    }
}

/// What an incident step's timeline line says: its note when it has one (or the legacy
/// `resolution` / `assignee`, see gavel-events), else the severity it states, else its title.
fn incident_detail(incident: &IncidentEvent) -> String {
    let legacy = match incident {
        IncidentEvent::Resolved(r) => r.resolution.as_deref(),
        IncidentEvent::Assigned(a) => a.assignee.as_deref(),
        _ => None,
    };
    incident
        .note()
        .or(legacy)
        .or(Some(incident.severity()).filter(|s| !s.is_empty()))
        .or(incident.title())
        .unwrap_or_default()
        .to_string()
}

/// The row of one event, without names (see [`Names::row`]).
fn row(event: &Event, leaf_hash: &str) -> Row {
    let d = &event.data;
    let subject = first_str(
        d,
        &[
            "agent_name",
            "agent_id",
            "incident_id",
            "set_id",
            "scope",
            "endpoint_id",
            "name",
            "user_id",
            "id",
            "pack",
        ],
    );
    let outcome = match event.kind.as_str() {
        "decision" | "approval.decided" => scalar(d.get("decision")),
        _ => first_str(d, &["status", "action", "mode", "role", "severity", "outcome"]),
    };
    let detail = match event.kind.as_str() {
        "decision" => {
            let mut t = format!("tool={}", scalar(d.get("tool")));
            if let Some(c) = s(d, "tool_category") {
                t.push_str(&format!(" category={c}"));
            }
            if let Some(st) = s(d, "agent_status").filter(|st| *st != "active") {
                t.push_str(&format!(" agent_status={st}"));
            }
            if d.get("containment").is_some_and(|c| !c.is_null()) {
                t.push_str(" contained");
            }
            t
        }
        k if k.starts_with("tools.categories_") => {
            // Which tools get which category: `read_file=read_only` (`none`: uncategorised).
            let assignments = d.get("assignments").and_then(Value::as_array).into_iter().flatten();
            let text: Vec<String> = assignments
                .map(|a| format!("{}={}", scalar(a.get("tool")), s(a, "category").unwrap_or("none")))
                .collect();
            format!("change={} tools={}", first_str(d, &["change_id"]), text.join(","))
        }
        k if k.starts_with("policy.") => format!(
            "version={} author={} approver={}",
            scalar(d.get("version")),
            first_str(d, &["author_name", "author", "proposed_by", "text_author"]),
            first_str(d, &["approved_by_name", "approved_by"]),
        ),
        "webhook.attempts" => {
            let n = d.get("attempts").and_then(Value::as_array).map_or(0, Vec::len);
            format!("{n} attempt(s)")
        }
        _ => first_str(d, &["reason", "detail", "title", "comment", "tool"]),
    };
    Row {
        seq: event.seq,
        time: event.time.clone(),
        kind: event.kind.clone(),
        actor: format!("{}:{}", event.actor.kind.as_str(), event.actor.id),
        subject,
        outcome,
        detail,
        leaf_hash: leaf_hash.to_string(),
        actor_name: String::new(),
        agent_id: String::new(),
        agent_name: String::new(),
        tool: String::new(),
        decision_id: String::new(),
        policies: String::new(),
    }
}

/// What the export knows about the period as a whole, for the criteria that report it.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodFacts {
    pub chain_verified: bool,
    pub events_verified: u64,
    pub chain_reason: Option<String>,
}

/// A criterion's status from its evidence count and findings: satisfied when it has evidence
/// and no finding of level `fail` — the failed operating rules (the one rule export, verify and
/// the readiness scan share).
pub fn status(evidence_count: u64, findings: &[Finding]) -> &'static str {
    if evidence_count > 0 && findings.iter().all(|f| f.level != "fail") {
        "satisfied"
    } else {
        "not-satisfied"
    }
}

/// The running aggregate of one criterion.
#[derive(Debug)]
pub struct Aggregate {
    analysis: Analysis,
    count: u64,
    by_kind: BTreeMap<String, u64>,
    state: State,
}

#[derive(Debug, Default)]
struct AgentStats {
    name: String,
    owner: String,
    status: String,
    decisions: BTreeMap<String, u64>,
    bypass_findings: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
}

#[derive(Debug, Default)]
struct Deactivation {
    name: String,
    status: String,
    at: String,
    by: String,
    reason: String,
    later_calls: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct Incident {
    title: String,
    status: String,
    timeline: Vec<Value>,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Generic,
    Agents(BTreeMap<String, AgentStats>),
    Credentials {
        principals: BTreeMap<String, BTreeMap<String, u64>>,
        /// Refused authentications per credential (from `auth.failures` events).
        refused: BTreeMap<String, u64>,
    },
    Deactivations {
        agents: BTreeMap<String, Deactivation>,
        violations: Vec<String>,
    },
    Monitoring {
        endpoints: BTreeMap<String, String>,
        attempts: BTreeMap<String, u64>,
        detections: u64,
        findings: u64,
    },
    Incidents {
        incidents: BTreeMap<String, Incident>,
        detections: u64,
    },
    Containment {
        actions: Vec<Value>,
        contained_decisions: BTreeMap<String, u64>,
    },
    Policies {
        versions: Vec<Value>,
        violations: Vec<String>,
    },
}

/// Most items a per-thing list keeps (timelines, actions): beyond this only counts grow, so an
/// adversarial log cannot make an export's memory unbounded.
const MAX_LISTED: usize = 10_000;

impl Aggregate {
    pub fn new(analysis: Analysis) -> Self {
        let state = match analysis {
            Analysis::Generic => State::Generic,
            Analysis::AgentInventory => State::Agents(BTreeMap::new()),
            Analysis::CredentialLifecycle => {
                State::Credentials { principals: BTreeMap::new(), refused: BTreeMap::new() }
            }
            Analysis::DeactivationEnforcement => {
                State::Deactivations { agents: BTreeMap::new(), violations: Vec::new() }
            }
            Analysis::Monitoring => State::Monitoring {
                endpoints: BTreeMap::new(),
                attempts: BTreeMap::new(),
                detections: 0,
                findings: 0,
            },
            Analysis::Incidents => State::Incidents { incidents: BTreeMap::new(), detections: 0 },
            Analysis::Containment => {
                State::Containment { actions: Vec::new(), contained_decisions: BTreeMap::new() }
            }
            Analysis::PolicyHistory => State::Policies { versions: Vec::new(), violations: Vec::new() },
        };
        Aggregate { analysis, count: 0, by_kind: BTreeMap::new(), state }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Takes one evidence event into account.
    pub fn observe(&mut self, e: &Event) {
        self.count += 1;
        *self.by_kind.entry(e.kind.clone()).or_default() += 1;
        let d = &e.data;
        let actor = format!("{}:{}", e.actor.kind.as_str(), e.actor.id);
        match &mut self.state {
            State::Generic => {}
            State::Agents(agents) => {
                let id = first_str(d, &["agent_id"]);
                if id.is_empty() {
                    return;
                }
                let a = agents.entry(id).or_default();
                if let Some(n) = s(d, "agent_name").or_else(|| s(d, "name")) {
                    a.name = n.to_string();
                }
                match e.kind.as_str() {
                    kind::AGENT_REGISTERED => {
                        a.owner = gavel_events::read::<AgentRegistered>(d).owner;
                        a.status = "active".into();
                    }
                    kind::AGENT_SUSPENDED => a.status = "suspended".into(),
                    kind::AGENT_REACTIVATED => a.status = "active".into(),
                    kind::AGENT_DEACTIVATED => a.status = "deactivated".into(),
                    kind::FINDING_BYPASS => a.bypass_findings += 1,
                    kind::OUTCOME_RECORDED if gavel_events::read::<OutcomeRecorded>(d).bypass => {
                        a.bypass_findings += 1
                    }
                    kind::DECISION => {
                        let decision: Decision = gavel_events::read(d);
                        *a.decisions.entry(decision.decision.as_str().to_string()).or_default() += 1;
                        if !decision.agent_status.is_empty() {
                            a.status = decision.agent_status;
                        }
                        a.first_seen.get_or_insert_with(|| e.time.clone());
                        a.last_seen = Some(e.time.clone());
                    }
                    _ => {}
                }
            }
            State::Credentials { refused, .. } if e.kind == kind::AUTH_FAILURES => {
                let failures: AuthFailures = gavel_events::read(d);
                for row in failures.rows {
                    *refused.entry(row.credential).or_default() += row.count;
                }
                if failures.attempts_omitted > 0 {
                    *refused.entry("(not itemized)".into()).or_default() += failures.attempts_omitted;
                }
            }
            State::Credentials { principals, .. } => {
                let id = first_str(d, &["user_id", "agent_id", "id"]);
                let who = format!("{} ({})", first_str(d, &["name", "agent_name"]), id);
                *principals.entry(who).or_default().entry(e.kind.clone()).or_default() += 1;
            }
            State::Deactivations { agents, violations } => match e.kind.as_str() {
                kind::AGENT_SUSPENDED | kind::AGENT_DEACTIVATED => {
                    let changed: AgentStatusChanged = gavel_events::read(d);
                    let entry = agents.entry(changed.agent_id).or_default();
                    entry.name = changed.name;
                    entry.status = e.kind.trim_start_matches("agent.").to_string();
                    entry.at = e.time.clone();
                    entry.by = actor;
                    entry.reason = changed.reason;
                }
                kind::AGENT_REACTIVATED => {
                    if let Some(entry) = agents.get_mut(&gavel_events::read::<AgentStatusChanged>(d).agent_id)
                    {
                        entry.status = "reactivated".into();
                    }
                }
                kind::DECISION => {
                    let decision: Decision = gavel_events::read(d);
                    let outcome = decision.decision.as_str().to_string();
                    let entry = agents.entry(decision.agent_id.clone()).or_insert_with(|| Deactivation {
                        name: decision.agent_name.clone(),
                        status: decision.agent_status.clone(),
                        at: "before the period".into(),
                        ..Default::default()
                    });
                    *entry.later_calls.entry(outcome.clone()).or_default() += 1;
                    if outcome != "deny" && violations.len() < MAX_LISTED {
                        let who = if decision.agent_name.is_empty() {
                            &decision.agent_id
                        } else {
                            &decision.agent_name
                        };
                        violations.push(format!(
                            "seq {}: {} agent {who} got {outcome:?}",
                            e.seq, decision.agent_status
                        ));
                    }
                }
                _ => {}
            },
            State::Monitoring { endpoints, attempts, detections, findings } => {
                if e.kind == kind::WEBHOOK_ATTEMPTS {
                    let round: WebhookAttempts = gavel_events::read(d);
                    endpoints.entry(round.endpoint_id).or_insert_with(|| "active".into());
                    for a in round.attempts {
                        *attempts.entry(a.outcome).or_default() += 1;
                    }
                } else if e.kind.starts_with("webhook.") {
                    let ep = first_str(d, &["id", "endpoint_id"]);
                    let status = e.kind.trim_start_matches("webhook.").to_string();
                    endpoints.insert(ep, status);
                } else if e.kind.starts_with("detection.") {
                    *detections += 1;
                } else if e.kind.starts_with("finding.") {
                    *findings += 1;
                }
            }
            State::Incidents { incidents, detections } => {
                if e.kind.starts_with("detection.") {
                    *detections += 1;
                    return;
                }
                let (id, title, detail) = match IncidentEvent::read(&e.kind, d) {
                    Some(incident) => {
                        let detail = incident_detail(&incident);
                        (incident.incident_id().to_string(), incident.title().map(str::to_string), detail)
                    }
                    // Another kind a framework routes to this analysis: read as it names itself.
                    None => (
                        first_str(d, &["incident_id", "id"]),
                        s(d, "title").map(str::to_string),
                        first_str(d, &["note", "reason", "severity", "title"]),
                    ),
                };
                let inc = incidents.entry(id).or_default();
                if let Some(t) = title {
                    inc.title = t;
                }
                inc.status = e.kind.trim_start_matches("incident.").to_string();
                if inc.timeline.len() < MAX_LISTED {
                    inc.timeline.push(json!({
                        "seq": e.seq, "time": e.time, "kind": e.kind, "actor": actor, "detail": detail,
                    }));
                }
            }
            State::Containment { actions, contained_decisions } => {
                if e.kind == "decision" {
                    let why = d
                        .get("containment")
                        .map(|c| first_str(c, &["kind", "type", "reason"]))
                        .filter(|w| !w.is_empty())
                        .unwrap_or_else(|| "containment".into());
                    *contained_decisions.entry(why).or_default() += 1;
                } else if actions.len() < MAX_LISTED {
                    actions.push(json!({
                        "seq": e.seq, "time": e.time, "kind": e.kind, "actor": actor,
                        "subject": first_str(d, &["scope", "name", "agent_id", "incident_id"]),
                        "reason": first_str(d, &["reason", "resolution"]),
                        "incident_id": d.get("incident_id").cloned().unwrap_or(Value::Null),
                    }));
                }
            }
            State::Policies { versions, violations } => {
                let change = PolicyChangeRow::of(&e.kind, d);
                if !change.proposer.is_empty()
                    && change.proposer == change.approved_by
                    && e.kind != kind::POLICY_PROPOSED
                    && violations.len() < MAX_LISTED
                {
                    violations.push(format!(
                        "seq {}: {} of {} was proposed and approved by the same person ({})",
                        e.seq,
                        e.kind,
                        change.set_id.as_str().unwrap_or_default(),
                        change.proposer
                    ));
                }
                if versions.len() < MAX_LISTED {
                    versions.push(json!({
                        "seq": e.seq, "time": e.time, "kind": e.kind, "actor": actor,
                        "set_id": change.set_id, "version": change.version,
                        "previous_version": change.previous_version, "mode": change.mode,
                        "sha256": change.sha256, "author": change.author, "approver": change.approver,
                        "change_id": change.change_id,
                    }));
                }
            }
        }
    }

    /// The criterion's one-sentence summary, its findings and its analysis details.
    pub fn finish(&self, chain: &PeriodFacts, facts: &Facts) -> (String, Vec<Finding>, Value) {
        let n = self.count;
        let mut findings = Vec::new();
        if n == 0 {
            findings.push(Finding::warn("no evidence events in the period".into()));
        }
        let (summary, details) = match &self.state {
            State::Generic => {
                (format!("{n} evidence event(s) of {} kind(s) in the period.", self.by_kind.len()), json!({}))
            }
            State::Agents(agents) => {
                let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
                let list: Vec<Value> = agents
                    .iter()
                    .map(|(id, a)| {
                        for (k, v) in &a.decisions {
                            *totals.entry(k.as_str()).or_default() += v;
                        }
                        json!({
                            "agent_id": id, "name": a.name, "owner": a.owner, "status": a.status,
                            "decisions": a.decisions,
                            "denied_attempts": a.decisions.get("deny").copied().unwrap_or(0),
                            "bypass_findings": a.bypass_findings,
                            "first_seen": a.first_seen, "last_seen": a.last_seen,
                        })
                    })
                    .collect();
                let get = |k: &str| totals.get(k).copied().unwrap_or(0);
                let decided: u64 = totals.values().sum();
                (
                    format!(
                        "{} agent(s) in the inventory; {decided} tool call(s) decided ({} allowed, {} denied, \
                         {} held for approval); {} bypass finding(s) raised, {} resolved, {} open at the end of \
                         the period.",
                        agents.len(),
                        get("allow"),
                        get("deny"),
                        get("require_approval"),
                        facts.count("bypass_findings_raised"),
                        facts.count("bypass_findings_resolved"),
                        facts.count("bypass_findings_open"),
                    ),
                    json!({"agents": list, "decisions_by_outcome": totals, "denied_attempts": get("deny")}),
                )
            }
            State::Credentials { principals, refused } => {
                let get = |k: &str| self.by_kind.get(k).copied().unwrap_or(0);
                let mut summary = format!(
                    "{} principal(s) with lifecycle events: {} user(s) created, {} agent(s) registered, \
                     {} credential rotation(s), {} deactivation(s).",
                    principals.len(),
                    get("user.created"),
                    get("agent.registered"),
                    get("user.credential_rotated") + get("agent.credential_rotated"),
                    get("user.deactivated") + get("agent.deactivated"),
                );
                let attempts: u64 = refused.values().sum();
                if attempts > 0 {
                    summary.push_str(&format!(
                        " {attempts} refused authentication(s) of {} credential(s) were recorded.",
                        refused.len()
                    ));
                }
                // A revoked or deactivated principal's credential still being presented is worth an
                // auditor's look: someone kept it after access ended.
                let revoked_in_use: Vec<&String> =
                    refused.keys().filter(|c| c.starts_with("agent:") || c.starts_with("user:")).collect();
                if !revoked_in_use.is_empty() {
                    findings.push(Finding::warn(format!(
                        "credentials of {} principal(s) whose access was revoked or ended were still presented: {}",
                        revoked_in_use.len(),
                        revoked_in_use.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
                (summary, json!({"principals": principals, "refused_authentications": refused}))
            }
            State::Deactivations { agents, violations } => {
                for v in violations {
                    findings
                        .push(Finding::warn(format!("call not denied after deactivation/suspension: {v}")));
                }
                let denied: u64 = agents.values().filter_map(|a| a.later_calls.get("deny")).sum();
                let list: Vec<Value> = agents
                    .iter()
                    .map(|(id, a)| {
                        json!({"agent_id": id, "name": a.name, "status": a.status, "at": a.at, "by": a.by,
                               "reason": a.reason, "calls_afterwards": a.later_calls})
                    })
                    .collect();
                (
                    format!(
                        "{} agent(s) suspended or deactivated; {denied} later call attempt(s) denied, {} not denied.",
                        agents.len(),
                        violations.len()
                    ),
                    json!({"agents": list}),
                )
            }
            State::Monitoring { endpoints, attempts, detections, findings: bypass } => {
                if !chain.chain_verified {
                    findings.push(Finding::warn(format!(
                        "the log's hash chain did not verify over the period: {}",
                        chain.chain_reason.clone().unwrap_or_default()
                    )));
                }
                let total: u64 = attempts.values().sum();
                (
                    format!(
                        "{} webhook endpoint(s) seen; enabled streaming covered {} of the period; {total} delivery \
                         attempt(s): {} delivered, {} given up (delivery rate {}); {detections} detection(s); hash \
                         chain {} over {} event(s).",
                        facts.count("webhook_endpoints"),
                        facts.get("webhook_streaming_coverage"),
                        facts.count("webhook_deliveries_delivered"),
                        facts.count("webhook_deliveries_failed"),
                        facts.get("webhook_delivery_rate"),
                        if chain.chain_verified { "verified" } else { "NOT verified" },
                        chain.events_verified
                    ),
                    json!({
                        "webhook_endpoints": endpoints, "delivery_attempts": attempts,
                        "detections": detections, "findings_raised": bypass,
                        "chain_verification": {"verified": chain.chain_verified, "events": chain.events_verified,
                                               "reason": chain.chain_reason},
                    }),
                )
            }
            State::Incidents { incidents, detections } => {
                let open: Vec<&String> =
                    incidents.iter().filter(|(_, i)| i.status != "resolved").map(|(id, _)| id).collect();
                for id in &open {
                    findings.push(Finding::warn(format!(
                        "incident {id} was not resolved by the end of the period"
                    )));
                }
                let list: Vec<Value> = incidents
                    .iter()
                    .map(|(id, i)| json!({"incident_id": id, "title": i.title, "status": i.status, "timeline": i.timeline}))
                    .collect();
                (
                    format!(
                        "{} incident(s) ({} resolved, {} open at period end); {detections} detection(s) raised.",
                        incidents.len(),
                        incidents.len() - open.len(),
                        open.len()
                    ),
                    json!({"incidents": list, "detections": detections}),
                )
            }
            State::Containment { actions, contained_decisions } => {
                let contained: u64 = contained_decisions.values().sum();
                (
                    format!(
                        "{} containment action(s) (kill switches, suspensions, limits, incident containment); \
                         {contained} call(s) denied by containment.",
                        actions.len()
                    ),
                    json!({"actions": actions, "contained_decisions": contained_decisions}),
                )
            }
            State::Policies { versions, violations } => {
                for v in violations {
                    findings.push(Finding::warn(format!("two-person rule not met: {v}")));
                }
                let count = |k: &str| self.by_kind.get(k).copied().unwrap_or(0);
                let activated = count(kind::POLICY_ACTIVATED);
                // Tool category changes are named only when the period has some, so a period
                // without reads as it always did.
                let categories = [
                    kind::TOOLS_CATEGORIES_PROPOSED,
                    kind::TOOLS_CATEGORIES_APPLIED,
                    kind::TOOLS_CATEGORIES_REJECTED,
                ];
                let tools = if categories.iter().any(|k| count(k) > 0) {
                    format!(
                        ", {} tool category change(s) proposed, {} applied",
                        count(kind::TOOLS_CATEGORIES_PROPOSED),
                        count(kind::TOOLS_CATEGORIES_APPLIED)
                    )
                } else {
                    String::new()
                };
                (
                    format!(
                        "{} policy change event(s): {} proposed, {activated} activated{tools}, each with its author and approver.",
                        n,
                        count(kind::POLICY_PROPOSED)
                    ),
                    json!({"history": versions}),
                )
            }
        };
        let mut details = details;
        if let Value::Object(m) = &mut details {
            m.insert("analysis".into(), json!(self.analysis));
            m.insert("events_by_kind".into(), json!(self.by_kind));
        }
        (summary, findings, details)
    }
}

/// What a bundle (and a scan) states about one criterion over a period.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub id: String,
    pub title: String,
    /// The criterion's controls that were in place in the period.
    pub controls: Vec<String>,
    pub evidence_count: u64,
    pub status: &'static str,
    pub summary: String,
    pub findings: Vec<Finding>,
    /// Each of the framework's operating rules over the period's facts.
    pub operating: Vec<RuleResult>,
    pub analysis: Value,
}

/// One pass over a period's events that yields every criterion's [`Statement`] and the period's
/// [`Facts`]: the export, `evidence verify` and the readiness scan all go through it.
#[derive(Debug)]
pub struct PeriodAnalysis<'f> {
    framework: &'f Framework,
    aggregates: Vec<Aggregate>,
    facts: FactsBuilder,
    names: Names,
    samples: crate::samples::SamplesBuilder,
}

impl<'f> PeriodAnalysis<'f> {
    /// An analysis of `[from, to)` under `framework`.
    pub fn new(framework: &'f Framework, from: time::OffsetDateTime, to: time::OffsetDateTime) -> Self {
        PeriodAnalysis {
            framework,
            aggregates: framework.criteria.iter().map(|c| Aggregate::new(c.analysis)).collect(),
            facts: FactsBuilder::new(from, to),
            names: Names::default(),
            samples: crate::samples::SamplesBuilder::default(),
        }
    }

    /// What auditors sample from the period (samples.json, report.pdf).
    pub fn samples(&self) -> crate::samples::Samples {
        self.samples.finish()
    }

    /// Learns from an identity event before the period (context.jsonl), before the first
    /// [`PeriodAnalysis::observe`]: names for evidence rows and the agent inventory's state at
    /// the start of the period. Nothing else of the period's analysis sees it.
    pub fn learn_context(&mut self, event: &Event) {
        self.names.learn(event);
        self.samples.observe(event);
    }

    /// The evidence row of the event just observed, with the names learnt so far.
    pub fn row(&self, event: &Event, leaf_hash: &str) -> Row {
        self.names.row(event, leaf_hash)
    }

    /// Takes the next event; `matched(i)` is called for each criterion (by index) it is
    /// evidence of, so the caller can write the evidence row.
    pub fn observe(&mut self, event: &Event, mut matched: impl FnMut(usize)) {
        self.facts.observe(event);
        self.names.learn(event);
        self.samples.observe(event);
        for (i, (c, agg)) in self.framework.criteria.iter().zip(self.aggregates.iter_mut()).enumerate() {
            if c.matches(&event.kind, &event.data) {
                agg.observe(event);
                matched(i);
            }
        }
    }

    /// The period's facts and each criterion's statement.
    pub fn finish(&self, chain: &PeriodFacts) -> (Facts, Vec<Statement>) {
        let facts = self.facts.finish(chain.chain_verified);
        let statements = self
            .framework
            .criteria
            .iter()
            .zip(&self.aggregates)
            .map(|(c, agg)| {
                let (mut summary, mut findings, analysis) = agg.finish(chain, &facts);
                let operating: Vec<RuleResult> = c.operating.iter().map(|r| r.evaluate(&facts)).collect();
                findings.extend(operating.iter().filter(|r| !r.holds).map(|r| Finding::fail(r.failure())));
                let failed: Vec<&str> =
                    operating.iter().filter(|r| !r.holds).map(|r| r.says.as_str()).collect();
                if !operating.is_empty() {
                    if failed.is_empty() {
                        summary.push_str(&format!(" Operating: all {} rule(s) hold.", operating.len()));
                    } else {
                        summary.push_str(&format!(" Not operating: {}.", failed.join("; ")));
                    }
                }
                Statement {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    controls: c
                        .controls
                        .iter()
                        .filter_map(|k| k.in_place(&facts))
                        .map(str::to_string)
                        .collect(),
                    evidence_count: agg.count(),
                    status: status(agg.count(), &findings),
                    summary,
                    findings,
                    operating,
                    analysis,
                }
            })
            .collect();
        (facts, statements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_ledger::event::Actor;

    fn event(seq: u64, kind: &str, data: Value) -> Event {
        Event {
            seq,
            time: format!("2026-01-01T00:00:{:02}.000000Z", seq % 60),
            kind: kind.into(),
            actor: Actor::user("usr_1"),
            data,
            prev: "0".repeat(64),
        }
    }

    fn chain() -> PeriodFacts {
        PeriodFacts { chain_verified: true, events_verified: 1, chain_reason: None }
    }

    #[test]
    fn a_call_allowed_after_deactivation_is_named_with_its_seq() {
        let mut a = Aggregate::new(Analysis::DeactivationEnforcement);
        a.observe(&event(1, "agent.deactivated", json!({"agent_id": "agt_1", "name": "bot", "reason": "r"})));
        a.observe(&event(
            2,
            "decision",
            json!({"agent_id": "agt_1", "agent_status": "deactivated", "decision": "deny"}),
        ));
        let (_, findings, _) = a.finish(&chain(), &Facts::default());
        assert!(findings.is_empty(), "{findings:?}");
        a.observe(&event(
            3,
            "decision",
            json!({"agent_id": "agt_1", "agent_status": "deactivated", "decision": "allow"}),
        ));
        let (summary, findings, details) = a.finish(&chain(), &Facts::default());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].level, "warn", "the failing verdict is the framework's rule's");
        assert!(findings[0].message.contains("seq 3"), "{findings:?}");
        assert!(summary.contains("1 later call attempt(s) denied, 1 not denied"), "{summary}");
        assert_eq!(details["agents"][0]["calls_afterwards"], json!({"allow": 1, "deny": 1}));
    }

    #[test]
    fn refused_authentications_are_counted_and_revoked_credentials_in_use_flagged() {
        let mut a = Aggregate::new(Analysis::CredentialLifecycle);
        a.observe(&event(1, "agent.registered", json!({"agent_id": "agt_1", "name": "bot"})));
        let (summary, findings, _) = a.finish(&chain(), &Facts::default());
        assert!(!summary.contains("refused") && findings.is_empty(), "{summary} {findings:?}");
        a.observe(&event(
            2,
            "auth.failures",
            json!({"attempts": 9, "attempts_omitted": 2, "rows": [
                {"credential": "unknown:0123456789ab", "source": "10.0.0.1", "count": 4},
                {"credential": "agent:agt_1", "source": "10.0.0.2", "count": 3}]}),
        ));
        let (summary, findings, details) = a.finish(&chain(), &Facts::default());
        assert!(summary.contains("9 refused authentication(s) of 3 credential(s)"), "{summary}");
        assert_eq!(details["refused_authentications"]["agent:agt_1"], 3);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].level, "warn");
        assert!(findings[0].message.contains("agent:agt_1"), "{findings:?}");
    }

    #[test]
    fn tool_category_changes_are_counted_with_their_two_persons() {
        let mut a = Aggregate::new(Analysis::PolicyHistory);
        let (summary, _, _) = a.finish(&chain(), &Facts::default());
        assert!(!summary.contains("tool category"), "a period without them reads as before: {summary}");
        let assignments = json!([{"tool": "read_file", "category": "read_only", "previous": null}]);
        a.observe(&event(
            1,
            "tools.categories_proposed",
            json!({"change_id": "tcc_1", "source": "upstream:files", "assignments": assignments,
                   "proposed_by": "usr_1", "proposed_by_name": "alice"}),
        ));
        a.observe(&event(
            2,
            "tools.categories_applied",
            json!({"change_id": "tcc_1", "source": "upstream:files", "assignments": assignments,
                   "proposed_by": "usr_1", "proposed_by_name": "alice",
                   "approved_by": "usr_2", "approved_by_name": "bob"}),
        ));
        let (summary, findings, details) = a.finish(&chain(), &Facts::default());
        assert!(summary.contains("1 tool category change(s) proposed, 1 applied"), "{summary}");
        assert!(findings.is_empty(), "{findings:?}");
        let applied = &details["history"][1];
        assert_eq!((applied["author"].clone(), applied["approver"].clone()), (json!("alice"), json!("bob")));
        assert_eq!(
            (applied["set_id"].clone(), applied["change_id"].clone()),
            (json!("upstream:files"), json!("tcc_1"))
        );
        let row = Names::default().row(&event(2, "tools.categories_applied", json!({"change_id": "tcc_1",
            "assignments": [{"tool": "read_file", "category": "read_only"}, {"tool": "x", "category": null}]})), "ab");
        assert_eq!(row.detail, "change=tcc_1 tools=read_file=read_only,x=none");
        // Approved by its own author: named, as a policy change would be.
        a.observe(&event(
            3,
            "tools.categories_applied",
            json!({"change_id": "tcc_2", "source": "admin", "proposed_by": "usr_1", "approved_by": "usr_1"}),
        ));
        let (_, findings, _) = a.finish(&chain(), &Facts::default());
        assert!(
            findings.iter().any(|f| f.message.contains("proposed and approved by the same person")),
            "{findings:?}"
        );
    }

    #[test]
    fn self_approved_policy_changes_are_named() {
        let mut a = Aggregate::new(Analysis::PolicyHistory);
        a.observe(&event(1, "policy.proposed", json!({"set_id": "s", "author": "usr_1", "version": 1})));
        a.observe(&event(
            2,
            "policy.activated",
            json!({"set_id": "s", "proposed_by": "usr_1", "approved_by": "usr_2"}),
        ));
        assert!(a.finish(&chain(), &Facts::default()).1.is_empty());
        a.observe(&event(
            3,
            "policy.activated",
            json!({"set_id": "s", "proposed_by": "usr_1", "approved_by": "usr_1"}),
        ));
        let (_, findings, _) = a.finish(&chain(), &Facts::default());
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("two-person rule") && findings[0].message.contains("seq 3"));
    }

    #[test]
    fn monitoring_reports_a_broken_chain() {
        let a = Aggregate::new(Analysis::Monitoring);
        let broken =
            PeriodFacts { chain_verified: false, events_verified: 3, chain_reason: Some("prev".into()) };
        let (summary, findings, _) = a.finish(&broken, &Facts::default());
        assert!(summary.contains("NOT verified"), "{summary}");
        assert!(findings.iter().any(|f| f.message.contains("hash chain")), "{findings:?}");
    }

    #[test]
    fn incidents_keep_their_timeline_and_open_ones_are_flagged() {
        let mut a = Aggregate::new(Analysis::Incidents);
        a.observe(&event(1, "detection.raised", json!({"detector": "burst"})));
        a.observe(&event(2, "incident.opened", json!({"incident_id": "inc_1", "title": "t"})));
        a.observe(&event(3, "incident.assigned", json!({"incident_id": "inc_1", "assignee": "alice"})));
        a.observe(&event(4, "incident.opened", json!({"incident_id": "inc_2", "title": "u"})));
        a.observe(&event(5, "incident.resolved", json!({"incident_id": "inc_1", "resolution": "fixed"})));
        let (summary, findings, details) = a.finish(&chain(), &Facts::default());
        assert!(summary.starts_with("2 incident(s) (1 resolved, 1 open"), "{summary}");
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("inc_2"));
        assert_eq!(details["incidents"][0]["timeline"].as_array().map(Vec::len), Some(3));
        assert_eq!(details["detections"], 1);
    }

    #[test]
    fn rows_name_the_subject_outcome_and_detail() {
        let r = row(
            &event(
                7,
                "decision",
                json!({"agent_name": "bot", "decision": "deny", "tool": "wire", "tool_category": "payments"}),
            ),
            "ab",
        );
        assert_eq!((r.subject.as_str(), r.outcome.as_str()), ("bot", "deny"));
        assert_eq!(r.detail, "tool=wire category=payments");
        assert_eq!(r.actor, "user:usr_1");
    }

    fn soc2_statements(events: &[Event]) -> Vec<Statement> {
        let fw = Framework::soc2().expect("soc2");
        let from = crate::facts::parse_time("2026-01-01T00:00:00Z").expect("time");
        let to = crate::facts::parse_time("2026-01-02T00:00:00Z").expect("time");
        let mut pass = PeriodAnalysis::new(&fw, from, to);
        for e in events {
            pass.observe(e, |_| {});
        }
        pass.finish(&chain()).1
    }

    #[test]
    fn operating_rules_decide_the_status_and_say_why() {
        let opened =
            event(1, "outcome.recorded", json!({"agent_id": "agt_1", "decision_id": "d1", "bypass": true}));
        let decided =
            event(2, "decision", json!({"agent_id": "agt_1", "decision": "allow", "enforced": true}));
        let statements = soc2_statements(&[decided.clone(), opened.clone()]);
        let cc61 = statements.iter().find(|s| s.id == "CC6.1").expect("CC6.1");
        assert_eq!(cc61.status, "not-satisfied");
        assert!(cc61.summary.contains("1 bypass finding(s) raised, 0 resolved, 1 open"), "{}", cc61.summary);
        assert!(
            cc61.findings
                .iter()
                .any(|f| f.level == "fail" && f.message.contains("bypass_findings_open is 1")),
            "{:?}",
            cc61.findings
        );
        assert_eq!(cc61.analysis["agents"][0]["bypass_findings"], 1);

        let resolved = event(3, "finding.resolved", json!({"decision_id": "d1", "finding_id": "fnd_1"}));
        let statements = soc2_statements(&[decided, opened, resolved]);
        let cc61 = statements.iter().find(|s| s.id == "CC6.1").expect("CC6.1");
        assert_eq!(cc61.status, "satisfied", "{:?}", cc61.findings);
        assert!(cc61.operating.iter().all(|r| r.holds));
    }

    #[test]
    fn controls_that_need_configuration_are_named_only_when_configured() {
        let statements = soc2_statements(&[event(1, "decision", json!({"decision": "allow"}))]);
        let cc72 = statements.iter().find(|s| s.id == "CC7.2").expect("CC7.2");
        assert!(cc72.controls.iter().all(|c| !c.contains("webhook")), "{:?}", cc72.controls);
        let statements = soc2_statements(&[event(1, "webhook.created", json!({"id": "wh_1"}))]);
        let cc72 = statements.iter().find(|s| s.id == "CC7.2").expect("CC7.2");
        assert!(cc72.controls.iter().any(|c| c.contains("webhook")), "{:?}", cc72.controls);
    }
}
