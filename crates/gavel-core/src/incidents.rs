//! Incidents (SOC 2 CC7.3/CC7.4): what happened, who owns it, what was done, and how it ended.
//!
//! Invariants:
//! * an incident (`incidents/<id>`, k1 status, k2 severity) changes only together with ONE
//!   timeline entry (`incident_entries/<id>:<n>`, k1 incident id, k2 kind) written with the log
//!   event that records the change (`incident.opened`, `incident.assigned`, `incident.triaged`,
//!   `incident.noted`, `incident.contained`, `incident.resolved`, `incident.linked`, and the
//!   containment events taken under it: `killswitch.engaged`, `agent.suspended`). The entry
//!   document carries the seq and time of its event, so the timeline is the log, in seq order,
//!   with its author (the event's actor);
//! * every change is a compare-and-set on the incident's version: concurrent changes get 409;
//! * status moves forward only: open → triaged → contained → resolved, where containment may
//!   come before triage (open → contained) and an incident with nothing to contain may be
//!   resolved after triage (triaged → resolved); everything else (backwards, from resolved,
//!   open → resolved without triage, the same status again) is a 409;
//! * resolving needs a non-empty writeup (notes may still be added afterwards, e.g. a
//!   postmortem link; nothing else changes); time to contain / resolve are computed from the
//!   times of the `incident.opened`, `incident.contained` and `incident.resolved` events;
//! * at most one unresolved incident per (agent, detector) (`incident_open/<agent>:<detector>`):
//!   later detections attach to it (`incident.linked`) instead of opening another; resolving
//!   frees the slot;
//! * roles: any user reads; admins and approvers act on incidents; only admins open one by hand;
//! * containment linked to an incident: a kill switch or an agent suspension given an
//!   `incident_id` (which must exist, 404, and be unresolved, 409) is also an entry of its
//!   timeline and an item of its `containment` list, in the same transaction. `contain` takes
//!   such actions itself (each its own event) and then records `incident.contained`, or records a
//!   note of what was done elsewhere; permissions are checked before any action, and if a later
//!   action fails the earlier ones stay recorded and `contain` can be retried.

use crate::error::{CoreError, Result};
use crate::identity::{Principal, Role};
use crate::ids::new_id;
use crate::Gavel;
use gavel_events::kind;
use gavel_ledger::clock::parse_time;
use gavel_ledger::event::Actor;
use gavel_store::docs::{Doc, DocKeys, DocQuery, Expect, StateOp};
use gavel_store::Appended;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const INCIDENTS: &str = "incidents";
pub const ENTRIES: &str = "incident_entries";
pub const OPEN_SLOTS: &str = "incident_open";

const MAX_TEXT: usize = 20_000;
const ACTORS: &[Role] = &[Role::Admin, Role::Approver];

/// An incident's or a detection's severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Result<Severity> {
        match s {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(CoreError::Invalid(format!("severity {s:?} must be low, medium, high or critical"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// OCSF `severity_id` (2 Low, 3 Medium, 4 High, 5 Critical).
    pub fn ocsf_id(self) -> u32 {
        match self {
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }
}

/// Where an incident is in its workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Triaged,
    Contained,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Triaged => "triaged",
            IncidentStatus::Contained => "contained",
            IncidentStatus::Resolved => "resolved",
        }
    }

    /// Whether the status machine allows moving from `self` to `to` (see the module doc).
    pub fn can_move_to(self, to: IncidentStatus) -> bool {
        use IncidentStatus::*;
        matches!(
            (self, to),
            (Open, Triaged)
                | (Open, Contained)
                | (Triaged, Contained)
                | (Triaged, Resolved)
                | (Contained, Resolved)
        )
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub status: IncidentStatus,
    pub severity: Severity,
    /// The owner's user name.
    pub owner: Option<String>,
    pub owner_id: Option<String>,
    /// The agent concerned, if any (agent id).
    pub agent: Option<String>,
    /// The detector that opened it (absent when opened by hand).
    pub detector: Option<String>,
    /// Log seqs of the events that make up the evidence: detections and the events they came from.
    pub linked_seqs: Vec<u64>,
    /// Containment actions taken under this incident (kill switches, suspensions).
    #[schema(value_type = Vec<Object>)]
    pub containment: Vec<Value>,
    pub writeup: Option<String>,
    /// Who opened it (`user:<name>` or `system:detectors`).
    pub opened_by: String,
    /// How many timeline entries exist (the next entry's number).
    pub entries: u32,
}

/// An incident with its timeline and the times derived from it (what the API answers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: Incident,
    pub opened_at: Option<String>,
    /// The seq of the event that opened it.
    pub opened_seq: Option<u64>,
    pub triaged_at: Option<String>,
    pub contained_at: Option<String>,
    pub resolved_at: Option<String>,
    pub time_to_contain_secs: Option<f64>,
    pub time_to_resolve_secs: Option<f64>,
    /// Every change, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

/// One timeline entry as stored in `incident_entries/<incident>:<n>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredEntry {
    pub incident_id: String,
    /// Its number in the incident's timeline, from 0.
    pub n: u32,
    /// The kind of the event that made the change.
    pub kind: String,
    pub author: EntryAuthor,
    /// The event's data.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// Who made a timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntryAuthor {
    /// user | agent | system
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: Option<String>,
}

/// One timeline entry with the seq and time of its event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    #[serde(flatten)]
    pub entry: StoredEntry,
    pub seq: u64,
    pub time: String,
}

/// An incident opened by hand (the body of `POST /v1/incidents`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewIncidentBody)]
pub struct NewIncident {
    pub title: String,
    pub severity: Severity,
    /// The agent concerned (id or name).
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    /// Log seqs of the events that are evidence of it (absent or null: none).
    #[serde(default, deserialize_with = "crate::decide::null_as_default")]
    #[schema(value_type = Option<Vec<u64>>)]
    pub linked_seqs: Vec<u64>,
}

/// Filters of the incident list (the query of `GET /v1/incidents`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub severity: Option<Severity>,
    /// Opened at or after (RFC 3339 or YYYY-MM-DD).
    pub since: Option<String>,
    /// Opened before (RFC 3339 or YYYY-MM-DD).
    pub until: Option<String>,
    /// Default 100, at most 1000.
    pub limit: Option<u32>,
}

/// A containment action `contain` takes itself: a kill switch pulled under the incident.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContainKillSwitchBody)]
pub struct ContainKillSwitch {
    pub scope: crate::containment::ScopeKind,
    /// Agent id/name or tool name (not for global).
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// How an incident was contained (the body of `POST /v1/incidents/{id}/contain`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ContainBody)]
pub struct ContainRequest {
    /// Pull this kill switch under the incident (its `killswitch.engaged` event is linked).
    #[serde(default)]
    pub killswitch: Option<ContainKillSwitch>,
    /// Suspend this agent (id or name) under the incident (admins).
    #[serde(default)]
    pub suspend_agent: Option<String>,
    /// What was done; required when no action is given.
    #[serde(default)]
    pub note: Option<String>,
}

fn check_text(what: &str, text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(CoreError::Invalid(format!("{what} must not be empty")));
    }
    if t.len() > MAX_TEXT {
        return Err(CoreError::Invalid(format!("{what} must be at most {MAX_TEXT} bytes")));
    }
    Ok(t.to_string())
}

fn seconds_between(a: Option<&str>, b: Option<&str>) -> Option<f64> {
    let (a, b) = (parse_time(a?)?, parse_time(b?)?);
    Some((b - a).as_seconds_f64())
}

/// The author of an event as shown in the timeline.
fn author(actor: &Actor, name: Option<&str>) -> EntryAuthor {
    EntryAuthor { kind: actor.kind.as_str().into(), id: actor.id.clone(), name: name.map(str::to_string) }
}

/// How an incident change is written: the event and the ops besides the incident and its entry.
pub(crate) struct Change<'a> {
    pub kind: &'a str,
    pub actor: Actor,
    pub author_name: Option<String>,
    pub data: Value,
    pub ops: Vec<StateOp>,
}

impl<'a> Change<'a> {
    /// A timeline entry written by a person, with no other state change.
    fn by_user(kind: &'a str, by: &Principal, user: &crate::User, data: Value) -> Self {
        Change { kind, actor: by.actor(), author_name: Some(user.name.clone()), data, ops: vec![] }
    }
}

impl Incident {
    fn op(&self, expect: Expect) -> StateOp {
        StateOp::put(
            INCIDENTS,
            &self.id,
            json!(self),
            DocKeys {
                k1: Some(self.status.as_str().into()),
                k2: Some(self.severity.as_str().into()),
                k3: self.agent.clone(),
            },
            expect,
        )
    }

    fn slot(&self) -> Option<String> {
        Some(format!("{}:{}", self.agent.as_deref()?, self.detector.as_deref()?))
    }
}

impl Gavel {
    /// The incident and its version; 404 when absent.
    pub(crate) fn incident_versioned(&self, id: &str) -> Result<(Incident, u64)> {
        let doc = self
            .store
            .get_doc(INCIDENTS, id)?
            .ok_or_else(|| CoreError::NotFound(format!("no incident {id:?}")))?;
        let v = doc.version;
        Ok((crate::from_doc(doc)?, v))
    }

    /// The state ops that record `change` on `incident` (at `version`, `None` = new): the
    /// incident itself and one timeline entry.
    pub(crate) fn incident_ops(
        &self,
        incident: &mut Incident,
        version: Option<u64>,
        kind: &str,
        actor: &Actor,
        author_name: Option<&str>,
        data: &Value,
    ) -> Vec<StateOp> {
        let n = incident.entries;
        incident.entries += 1;
        let entry = json!(StoredEntry {
            incident_id: incident.id.clone(),
            n,
            kind: kind.into(),
            author: author(actor, author_name),
            data: data.clone(),
        });
        vec![
            incident.op(version.map_or(Expect::Absent, Expect::Version)),
            StateOp::put(
                ENTRIES,
                &entry_key(&incident.id, n),
                entry,
                DocKeys { k1: Some(incident.id.clone()), k2: Some(kind.into()), k3: None },
                Expect::Absent,
            ),
        ]
    }

    /// Appends one incident change (see [`Change`]).
    pub(crate) fn record_incident_change(
        &self,
        incident: &mut Incident,
        version: Option<u64>,
        change: Change<'_>,
    ) -> Result<Appended> {
        let mut ops = self.incident_ops(
            incident,
            version,
            change.kind,
            &change.actor,
            change.author_name.as_deref(),
            &change.data,
        );
        ops.extend(change.ops);
        self.record(change.kind, &change.actor, change.data, ops)
    }

    /// The ops that link a containment event to incident `id` (the incident must not be resolved):
    /// the caller appends them with its own event, whose data must carry `incident_id`.
    pub(crate) fn incident_link_ops(
        &self,
        id: &str,
        kind: &str,
        by: &Principal,
        action: Value,
        data: &Value,
    ) -> Result<Vec<StateOp>> {
        let (mut incident, version) = self.incident_versioned(id)?;
        if incident.status == IncidentStatus::Resolved {
            return Err(CoreError::Conflict(format!("incident {id} is resolved; open a new one")));
        }
        incident.containment.push(action);
        let name = match by {
            Principal::User(u) => Some(u.name.as_str()),
            Principal::Agent(a) => Some(a.name.as_str()),
            Principal::Operator(_) => None,
        };
        Ok(self.incident_ops(&mut incident, Some(version), kind, &by.actor(), name, data))
    }

    /// Opens an incident by hand (admins).
    pub fn create_incident(&self, by: &Principal, new: NewIncident) -> Result<IncidentView> {
        let user = by.require_admin()?;
        let title = check_text("title", &new.title)?;
        let severity = new.severity;
        let agent = new.agent.as_deref().map(|a| self.agent(a)).transpose()?.map(|a| a.id);
        if new.linked_seqs.len() > 1000 {
            return Err(CoreError::Invalid("at most 1000 linked seqs".into()));
        }
        let head = self.store.head()?.size;
        if let Some(bad) = new.linked_seqs.iter().find(|s| **s >= head) {
            return Err(CoreError::Invalid(format!("linked seq {bad} is not in the log (size {head})")));
        }
        let summary = new.summary.as_deref().map(|s| check_text("summary", s)).transpose()?;
        let mut incident = Incident {
            id: new_id("inc"),
            title: title.clone(),
            status: IncidentStatus::Open,
            severity,
            owner: None,
            owner_id: None,
            agent: agent.clone(),
            detector: None,
            linked_seqs: new.linked_seqs.clone(),
            containment: Vec::new(),
            writeup: None,
            opened_by: format!("user:{}", user.name),
            entries: 0,
        };
        let opened = gavel_events::IncidentOpened {
            incident_id: incident.id.clone(),
            title,
            severity: severity.as_str().into(),
            agent,
            linked_seqs: new.linked_seqs,
            source: "manual".into(),
            summary: Some(summary),
            ..Default::default()
        };
        let change = Change::by_user(kind::INCIDENT_OPENED, by, user, crate::typed(&opened)?);
        self.record_incident_change(&mut incident, None, change)?;
        self.incident_view(&incident.id)
    }

    /// Incidents, newest opened first, with their timelines.
    ///
    /// Every incident matching the status and severity keys is read (in pages), but only its opening
    /// entry is looked at to filter and order; timelines are built for the page returned only.
    pub fn incidents(&self, by: &Principal, filter: &IncidentFilter) -> Result<Vec<IncidentView>> {
        self.incidents_in_pages(by, filter, 1000)
    }

    fn incidents_in_pages(
        &self,
        by: &Principal,
        filter: &IncidentFilter,
        page: u32,
    ) -> Result<Vec<IncidentView>> {
        by.require_reader()?;
        let since = filter.since.as_deref().map(|s| crate::retention::parse_bound("since", s)).transpose()?;
        let until = filter.until.as_deref().map(|s| crate::retention::parse_bound("until", s)).transpose()?;
        let limit = filter.limit.unwrap_or(100).clamp(1, 1000) as usize;

        let page = page.max(2);
        let mut q = DocQuery::new(INCIDENTS, page);
        q.k1 = filter.status.map(|s| s.as_str().to_string());
        q.k2 = filter.severity.map(|s| s.as_str().to_string());
        let mut ids: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let docs = self.store.query_docs(&q)?;
            let full = docs.len() == page as usize;
            let oldest = docs.last().map(|d| d.seq);
            let mut new = 0;
            for doc in docs {
                if seen.insert(doc.id.clone()) {
                    ids.push(doc.id);
                    new += 1;
                }
            }
            // Several documents can share a seq (one event changing several incidents), so the next
            // page starts at the oldest seq again rather than below it, and repeats are dropped; a
            // full page with nothing new would mean one event changed a whole page of incidents.
            match oldest {
                Some(seq) if full && new > 0 => q.before_seq = Some(seq + 1),
                Some(seq) if full => {
                    return Err(CoreError::Internal(format!(
                        "more than {page} incidents changed at seq {seq}: cannot page through them"
                    )))
                }
                _ => break,
            }
        }

        // (opened seq, opened time, id) from each incident's first timeline entry.
        let mut opened: Vec<(u64, String, String)> = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(page as usize) {
            let keys: Vec<String> = chunk.iter().map(|id| entry_key(id, 0)).collect();
            let reads: Vec<(&str, &str)> = keys.iter().map(|k| (ENTRIES, k.as_str())).collect();
            for (id, entry) in chunk.iter().zip(self.store.get_docs(&reads)?) {
                let entry = entry
                    .ok_or_else(|| CoreError::Internal(format!("incident {id} has no opening entry")))?;
                opened.push((entry.seq, entry.time, id.clone()));
            }
        }
        opened.retain(|(_, at, _)| {
            !(since.as_deref().is_some_and(|s| at.as_str() < s)
                || until.as_deref().is_some_and(|u| at.as_str() >= u))
        });
        opened.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
        opened.truncate(limit);
        opened.into_iter().map(|(_, _, id)| self.incident_view(&id)).collect()
    }

    pub fn incident(&self, by: &Principal, id: &str) -> Result<IncidentView> {
        by.require_reader()?;
        self.incident_view(id)
    }

    fn incident_view(&self, id: &str) -> Result<IncidentView> {
        let doc = self
            .store
            .get_doc(INCIDENTS, id)?
            .ok_or_else(|| CoreError::NotFound(format!("no incident {id:?}")))?;
        self.view_of(doc)
    }

    /// The incident with its timeline (each entry with the seq and time of its event) and the
    /// times derived from it.
    fn view_of(&self, doc: Doc) -> Result<IncidentView> {
        let incident: Incident = crate::from_doc(doc)?;
        let mut q = DocQuery::new(ENTRIES, 10_000);
        q.k1 = Some(incident.id.clone());
        q.ascending = true;
        let mut timeline = Vec::new();
        for d in self.store.query_docs(&q)? {
            let (seq, time) = (d.seq, d.time.clone());
            timeline.push(TimelineEntry { entry: crate::from_doc(d)?, seq, time });
        }
        timeline.sort_by_key(|e| e.seq);
        let first = |kind: &str| timeline.iter().find(|e| e.entry.kind == kind).map(|e| e.time.clone());
        let opened_at = first(kind::INCIDENT_OPENED);
        let triaged_at = first(kind::INCIDENT_TRIAGED);
        let contained_at = first(kind::INCIDENT_CONTAINED);
        let resolved_at = first(kind::INCIDENT_RESOLVED);
        let opened_seq = timeline.first().map(|e| e.seq);
        Ok(IncidentView {
            incident,
            time_to_contain_secs: seconds_between(opened_at.as_deref(), contained_at.as_deref()),
            time_to_resolve_secs: seconds_between(opened_at.as_deref(), resolved_at.as_deref()),
            opened_at,
            opened_seq,
            triaged_at,
            contained_at,
            resolved_at,
            timeline,
        })
    }

    fn acting_user<'a>(&self, by: &'a Principal) -> Result<&'a crate::User> {
        by.require_user(ACTORS)
    }

    /// Sets the owner (an active user, by id or name).
    pub fn assign_incident(&self, by: &Principal, id: &str, owner: &str) -> Result<IncidentView> {
        let user = self.acting_user(by)?;
        let owner = self.user(owner)?;
        if owner.status != crate::Status::Active {
            return Err(CoreError::Invalid(format!("user {} is {}", owner.name, owner.status.as_str())));
        }
        let (mut incident, version) = self.incident_versioned(id)?;
        if incident.status == IncidentStatus::Resolved {
            return Err(CoreError::Conflict(format!("incident {id} is resolved")));
        }
        if incident.owner_id.as_deref() == Some(owner.id.as_str()) {
            return Err(CoreError::Conflict(format!("incident {id} is already assigned to {}", owner.name)));
        }
        incident.owner = Some(owner.name.clone());
        incident.owner_id = Some(owner.id.clone());
        let assigned = gavel_events::IncidentAssigned {
            incident_id: id.into(),
            owner: owner.name,
            owner_id: owner.id,
            severity: incident.severity.as_str().into(),
            status: incident.status.as_str().into(),
            assignee: None,
            other: Default::default(),
        };
        let change = Change::by_user(kind::INCIDENT_ASSIGNED, by, user, crate::typed(&assigned)?);
        self.record_incident_change(&mut incident, Some(version), change)?;
        self.incident_view(id)
    }

    fn transition(&self, incident: &Incident, to: IncidentStatus) -> Result<()> {
        if incident.status.can_move_to(to) {
            Ok(())
        } else {
            Err(CoreError::Conflict(format!(
                "incident {} is {}; it cannot become {} (open → triaged → contained → resolved)",
                incident.id,
                incident.status.as_str(),
                to.as_str()
            )))
        }
    }

    /// Triage: someone looked at it, possibly re-rating its severity.
    pub fn triage_incident(
        &self,
        by: &Principal,
        id: &str,
        severity: Option<Severity>,
        note: Option<&str>,
    ) -> Result<IncidentView> {
        let user = self.acting_user(by)?;
        let note = note.map(|n| check_text("note", n)).transpose()?;
        let (mut incident, version) = self.incident_versioned(id)?;
        self.transition(&incident, IncidentStatus::Triaged)?;
        let previous = incident.severity;
        incident.status = IncidentStatus::Triaged;
        if let Some(s) = severity {
            incident.severity = s;
        }
        let triaged = gavel_events::IncidentTriaged {
            incident_id: id.into(),
            status: IncidentStatus::Triaged.as_str().into(),
            severity: incident.severity.as_str().into(),
            previous_severity: previous.as_str().into(),
            note,
            owner: incident.owner.clone(),
            owner_id: incident.owner_id.clone(),
            other: Default::default(),
        };
        let change = Change::by_user(kind::INCIDENT_TRIAGED, by, user, crate::typed(&triaged)?);
        self.record_incident_change(&mut incident, Some(version), change)?;
        self.incident_view(id)
    }

    pub fn note_incident(&self, by: &Principal, id: &str, text: &str) -> Result<IncidentView> {
        let user = self.acting_user(by)?;
        let text = check_text("note", text)?;
        let (mut incident, version) = self.incident_versioned(id)?;
        let noted = gavel_events::IncidentNoted {
            incident_id: id.into(),
            text,
            status: incident.status.as_str().into(),
            severity: incident.severity.as_str().into(),
            owner: incident.owner.clone(),
            owner_id: incident.owner_id.clone(),
            other: Default::default(),
        };
        let change = Change::by_user(kind::INCIDENT_NOTED, by, user, crate::typed(&noted)?);
        self.record_incident_change(&mut incident, Some(version), change)?;
        self.incident_view(id)
    }

    /// Containment: optionally takes the action itself (a kill switch, an agent suspension, each
    /// its own event linked to the incident), then records `incident.contained` referencing every
    /// containment action taken under the incident.
    pub fn contain_incident(&self, by: &Principal, id: &str, req: ContainRequest) -> Result<IncidentView> {
        let user = self.acting_user(by)?;
        let note = req.note.as_deref().map(|n| check_text("note", n)).transpose()?;
        let (incident, _) = self.incident_versioned(id)?;
        self.transition(&incident, IncidentStatus::Contained)?;
        if req.suspend_agent.is_some() {
            // Checked before any action, so a refused suspension does not leave a kill switch
            // pulled by a request that failed.
            by.require_admin()?;
        }
        if req.killswitch.is_none() && req.suspend_agent.is_none() && note.is_none() {
            return Err(CoreError::Invalid(
                "say how it was contained: a killswitch, suspend_agent, or a note naming the action taken"
                    .into(),
            ));
        }
        let scope = req
            .killswitch
            .as_ref()
            .map(|k| crate::containment::Scope::of(k.scope, k.target.as_deref()))
            .transpose()?;
        if let (Some(ks), Some(scope)) = (&req.killswitch, scope) {
            let reason = ks.reason.clone().unwrap_or_else(|| format!("containment of incident {id}"));
            self.engage_kill_switch(by, scope, &reason, Some(id))?;
        }
        if let Some(agent) = &req.suspend_agent {
            let reason = format!("containment of incident {id}");
            self.set_agent_status_for(by, agent, crate::Status::Suspended, &reason, Some(id))?;
        }
        let (mut incident, version) = self.incident_versioned(id)?;
        self.transition(&incident, IncidentStatus::Contained)?;
        incident.status = IncidentStatus::Contained;
        let contained = gavel_events::IncidentContained {
            incident_id: id.into(),
            status: IncidentStatus::Contained.as_str().into(),
            note,
            containment: incident.containment.clone(),
            severity: incident.severity.as_str().into(),
            owner: incident.owner.clone(),
            owner_id: incident.owner_id.clone(),
            other: Default::default(),
        };
        let change = Change::by_user(kind::INCIDENT_CONTAINED, by, user, crate::typed(&contained)?);
        self.record_incident_change(&mut incident, Some(version), change)?;
        self.incident_view(id)
    }

    /// Resolves with a writeup (required); frees the (agent, detector) slot.
    pub fn resolve_incident(&self, by: &Principal, id: &str, writeup: &str) -> Result<IncidentView> {
        let user = self.acting_user(by)?;
        let writeup = check_text("writeup", writeup).map_err(|_| {
            CoreError::Invalid("a non-empty writeup is required to resolve an incident".into())
        })?;
        let (mut incident, version) = self.incident_versioned(id)?;
        self.transition(&incident, IncidentStatus::Resolved)?;
        incident.status = IncidentStatus::Resolved;
        incident.writeup = Some(writeup.clone());
        let mut ops = Vec::new();
        if let Some(slot) = incident.slot() {
            if let Some(doc) = self.store.get_doc(OPEN_SLOTS, &slot)? {
                if doc.body["incident_id"] == json!(id) {
                    ops.push(StateOp::put(
                        OPEN_SLOTS,
                        &slot,
                        json!({"incident_id": null}),
                        DocKeys::default(),
                        Expect::Version(doc.version),
                    ));
                }
            }
        }
        let resolved = gavel_events::IncidentResolved {
            incident_id: id.into(),
            status: IncidentStatus::Resolved.as_str().into(),
            writeup,
            severity: incident.severity.as_str().into(),
            owner: incident.owner.clone(),
            owner_id: incident.owner_id.clone(),
            resolution: None,
            other: Default::default(),
        };
        let change = Change {
            kind: kind::INCIDENT_RESOLVED,
            actor: by.actor(),
            author_name: Some(user.name.clone()),
            data: crate::typed(&resolved)?,
            ops,
        };
        self.record_incident_change(&mut incident, Some(version), change)?;
        self.incident_view(id)
    }
}

/// The id of an incident's `n`th timeline entry (`incident_entries/<incident id>:<n, 6 digits>`);
/// entry 0 is the opening.
fn entry_key(incident_id: &str, n: u32) -> String {
    format!("{incident_id}:{n:06}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentStatus::*;

    #[test]
    fn the_status_machine_moves_forward_only() {
        let all = [Open, Triaged, Contained, Resolved];
        let legal = [
            (Open, Triaged),
            (Open, Contained),
            (Triaged, Contained),
            (Triaged, Resolved),
            (Contained, Resolved),
        ];
        for from in all {
            for to in all {
                assert_eq!(from.can_move_to(to), legal.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn severities_parse_and_order() {
        assert!(Severity::Critical > Severity::High && Severity::Medium > Severity::Low);
        assert_eq!(Severity::parse("high").unwrap().ocsf_id(), 4);
        assert!(Severity::parse("urgent").is_err());
        assert!(serde_json::from_value::<IncidentStatus>(json!("closed")).is_err());
    }

    #[test]
    fn listing_pages_through_every_incident_and_orders_by_opening() {
        use gavel_ledger::clock::ManualClock;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(time::macros::datetime!(2026-11-02 09:00 UTC)));
        let log = Arc::new(
            gavel_store::Log::open(&gavel_store::layout::DataDir::new(dir.path()), clock.clone(), None)
                .unwrap()
                .0,
        );
        let gavel = crate::Gavel::new(log.clone(), clock.clone());
        let admin = gavel.authenticate(&gavel.bootstrap_admin().unwrap().unwrap().token).unwrap();
        let mut ids = Vec::new();
        let (low, high) = (Severity::Low, Severity::High);
        for (n, severity) in [low, high, low, high, low].into_iter().enumerate() {
            clock.advance(time::Duration::days(1));
            let title = format!("i{n}");
            let new = NewIncident { title, severity, agent: None, summary: None, linked_seqs: vec![] };
            ids.push(gavel.create_incident(&admin, new).unwrap().incident.id);
        }
        // A later change to the oldest incident moves its document to the front of the store's
        // order; the list still orders by opening.
        gavel.note_incident(&admin, &ids[0], "still looking").unwrap();
        let listed = |filter: IncidentFilter, page: u32| -> Vec<String> {
            let views = gavel.incidents_in_pages(&admin, &filter, page).unwrap();
            views.iter().map(|v| v.incident.id.clone()).collect()
        };
        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
        for page in [2, 3, 1000] {
            assert_eq!(listed(IncidentFilter::default(), page), newest_first, "page {page}");
        }
        let high = IncidentFilter { severity: Some(Severity::High), ..Default::default() };
        assert_eq!(listed(high, 2), vec![ids[3].clone(), ids[1].clone()]);
        let window = IncidentFilter {
            since: Some("2026-11-04".into()),
            until: Some("2026-11-06".into()),
            limit: Some(1),
            ..Default::default()
        };
        assert_eq!(listed(window, 2), vec![ids[2].clone()], "opened on the 5th, then the 4th; limit 1");
        let views = gavel.incidents_in_pages(&admin, &IncidentFilter::default(), 2).unwrap();
        assert!(views[4].timeline.len() == 2, "views carry their timelines");
    }

    #[test]
    fn filter_times_accept_dates_and_rfc3339() {
        assert_eq!(
            crate::retention::parse_bound("since", "2026-11-02").unwrap(),
            "2026-11-02T00:00:00.000000Z"
        );
        assert_eq!(
            crate::retention::parse_bound("since", "2026-11-02T10:00:00+01:00").unwrap(),
            "2026-11-02T09:00:00.000000Z"
        );
        assert!(crate::retention::parse_bound("since", "yesterday").is_err());
    }
}
