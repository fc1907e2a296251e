//! Readiness scans: gavel's built-in checks of its own state, rolled up per criterion of a
//! framework (SOC 2 and any other framework given as data, which names the checks per criterion).
//!
//! The thirteen checks are [`CHECKS`]; a framework file names them per criterion (`checks = [...]`)
//! and a unit test keeps every named check real and every check used by SOC 2.
//!
//! Invariants:
//! * a check reads state only; the one write of a scan is its `compliance.scan_completed` event
//!   (with the stored scan document), which carries the full result so the scan is itself evidence;
//! * every finding has a stable `key`, so a scan says which findings are new and which were
//!   remediated since the previous scan of the same framework;
//! * a criterion's state is the worst state of its checks (gap < observe < enforcing), and a
//!   criterion that names no known check is a gap — never silently "enforcing";
//! * the scan also judges the framework's operating rules over the facts of its period (by
//!   default the last 90 days, not before the log's first event) with the very code an evidence
//!   bundle uses (`gavel_evidence::export::analyse_period`): a failed rule is a high finding and
//!   makes the criterion a gap, so a scan and a bundle of the same period cannot disagree.

use crate::{from_doc, CoreError, Gavel, Principal, Result};
use gavel_evidence::facts::{Facts, RuleResult};
use gavel_evidence::framework::Framework;
use gavel_ledger::clock::format_time;
use gavel_ledger::event::Actor;
use gavel_policy::Mode;
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use time::{Duration, OffsetDateTime};

const SCANS: &str = "compliance_scans";
/// Findings listed per check at most (the count is always exact).
const MAX_FINDINGS_PER_CHECK: usize = 50;

/// How far a control is from evidencing its criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CriterionState)]
pub enum State {
    /// Nothing (or something broken) evidences it.
    Gap,
    /// Watched and recorded, not enforced yet.
    Observe,
    Enforcing,
}

impl State {
    /// As serialized (`gap`, `observe`, `enforcing`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Gap => "gap",
            State::Observe => "observe",
            State::Enforcing => "enforcing",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ScanSeverity)]
pub enum Severity {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ScanFinding)]
pub struct Finding {
    /// Stable across scans for the same underlying problem (check id + subject).
    pub key: String,
    pub check: String,
    pub severity: Severity,
    pub message: String,
}

/// The result of one built-in check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub id: String,
    pub state: State,
    /// One sentence on what was found.
    pub summary: String,
    pub findings: Vec<Finding>,
    /// How many findings there were (the list may be cut at 50).
    pub finding_count: usize,
}

/// The built-in checks: id and what each looks at.
pub const CHECKS: [(&str, &str); 13] = [
    ("agent_inventory", "every agent is registered with an accountable owner"),
    ("policy_enforcement", "policy sets are active and enforcing, with enough policies"),
    ("approval_holds", "an enforcing policy holds sensitive tool calls for human approval"),
    ("change_control", "policy changes went through two-person approval"),
    ("credential_rotation", "agent credentials were issued or rotated in the last 90 days"),
    ("deactivation_enforced", "no call of a suspended or deactivated agent was allowed after the change"),
    ("bypass_findings", "no agent executed a denied or unapproved call"),
    ("monitoring_webhooks", "events stream to a SIEM through an enabled, healthy webhook"),
    ("detectors", "detectors have read the log up to (nearly) its head"),
    ("incident_response", "incidents have an owner and are resolved within 7 days"),
    ("containment", "kill switches are linked to incidents and agents have rate or cost limits"),
    ("retention", "records are kept at least 365 days"),
    ("log_integrity", "the whole log verifies: canonical events, hash chain, purge records"),
];

/// Which checks evidence one criterion (from the framework's data file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionPlan {
    pub id: String,
    pub title: String,
    pub checks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CriterionResult {
    pub id: String,
    pub title: String,
    pub state: State,
    pub checks: Vec<String>,
    pub findings: Vec<Finding>,
    /// The framework's operating rules over the scan period's facts (what a bundle of the
    /// period states); absent from scans made before rules existed.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub operating: Vec<RuleResult>,
}

/// The period whose events a scan's operating rules are judged on: `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanPeriod {
    pub from: String,
    pub to: String,
}

/// A stored scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scan {
    pub id: String,
    pub framework: String,
    pub started_at: String,
    pub completed_at: String,
    /// Who ran it (`system` for the scheduled scan).
    pub run_by: String,
    pub criteria: Vec<CriterionResult>,
    pub checks: Vec<CheckResult>,
    /// The period of the operating rules (absent from scans made before rules existed).
    #[serde(default)]
    pub period: Option<ScanPeriod>,
    /// The period's facts, as an evidence bundle of the period computes them.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub facts: Facts,
    /// `{enforcing, observe, gap}` criterion counts.
    pub summary: BTreeMap<String, usize>,
    /// The scan this one is compared with (the previous one of the same framework).
    pub previous_scan: Option<String>,
    /// Keys of findings not in the previous scan.
    pub new_findings: Vec<String>,
    /// Findings of the previous scan that are gone.
    pub remediated_findings: Vec<Finding>,
}

/// Tunables of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSettings {
    /// Fewer active enforcing policies than this is a finding.
    pub min_active_policies: usize,
    /// Credentials older than this many days are a finding.
    pub credential_max_age_days: i64,
    /// The operating rules are judged over this many days up to the scan (never before the
    /// log's first event).
    pub period_days: i64,
    /// An explicit period instead (`[from, to)`), e.g. the period of a bundle to compare with.
    pub period: Option<(OffsetDateTime, OffsetDateTime)>,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings { min_active_policies: 3, credential_max_age_days: 90, period_days: 90, period: None }
    }
}

fn finding(check: &str, subject: &str, severity: Severity, message: String) -> Finding {
    Finding { key: format!("{check}:{subject}"), check: check.into(), severity, message }
}

fn result(id: &str, state: State, summary: String, mut findings: Vec<Finding>) -> CheckResult {
    let finding_count = findings.len();
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.key.cmp(&b.key)));
    findings.truncate(MAX_FINDINGS_PER_CHECK);
    CheckResult { id: id.into(), state, summary, findings, finding_count }
}

impl Gavel {
    /// Runs every built-in check.
    pub(crate) fn run_checks(&self, settings: &ScanSettings) -> Result<Vec<CheckResult>> {
        Ok(vec![
            self.check_agent_inventory()?,
            self.check_policy_enforcement(settings)?,
            self.check_approval_holds()?,
            self.check_change_control()?,
            self.check_credential_rotation(settings)?,
            self.check_deactivation_enforced()?,
            self.check_bypass_findings()?,
            self.check_monitoring_webhooks()?,
            self.check_detectors()?,
            self.check_incident_response()?,
            self.check_containment()?,
            self.check_retention()?,
            self.check_log_integrity()?,
        ])
    }

    /// Who may run a scan: an admin or an auditor. Callers that resolve the framework first
    /// (the server reads it from the data directory) ask this before, so a caller without the
    /// role gets 403, never a 404 that says which frameworks exist.
    pub fn may_scan(by: &Principal) -> Result<&crate::User> {
        by.require_user(&[crate::Role::Admin, crate::Role::Auditor])
    }

    /// Runs a readiness scan of `fw` (its criteria, their checks and operating rules), compares
    /// it with the previous scan of that framework, and records it. `by` is `None` for the
    /// scheduled scan; otherwise an admin or auditor.
    pub fn compliance_scan(
        &self,
        by: Option<&Principal>,
        fw: &Framework,
        settings: &ScanSettings,
    ) -> Result<Scan> {
        let framework = fw.framework.id.as_str();
        let plan = plan_of(fw);
        let (actor, run_by) = match by {
            Some(p) => {
                let user = Self::may_scan(p)?;
                (p.actor(), user.name.clone())
            }
            None => (Actor::system("compliance"), "system".to_string()),
        };
        if plan.is_empty() {
            return Err(CoreError::Invalid(format!("framework {framework:?} has no criteria to scan")));
        }
        let started_at = self.now();
        let checks = self.run_checks(settings)?;
        let (from, to) = match settings.period {
            Some(period) => period,
            None => self.default_scan_period(settings.period_days)?,
        };
        let (facts, statements) = gavel_evidence::export::analyse_period(self.store.as_ref(), fw, from, to)
            .map_err(|e| match e {
            gavel_evidence::EvidenceError::Store(e) => CoreError::from(e),
            e => CoreError::Internal(format!("the scan period could not be analysed: {e}")),
        })?;
        let by_id: BTreeMap<&str, &CheckResult> = checks.iter().map(|c| (c.id.as_str(), c)).collect();
        let criteria: Vec<CriterionResult> = plan
            .iter()
            .map(|c| {
                let known: Vec<&CheckResult> =
                    c.checks.iter().filter_map(|id| by_id.get(id.as_str()).copied()).collect();
                let mut findings: Vec<Finding> = known.iter().flat_map(|r| r.findings.clone()).collect();
                let unknown: Vec<&String> =
                    c.checks.iter().filter(|id| !by_id.contains_key(id.as_str())).collect();
                for id in &unknown {
                    findings.push(finding(
                        "framework",
                        &format!("{}:{id}", c.id),
                        Severity::High,
                        format!("criterion {} names check {id:?}, which gavel does not have", c.id),
                    ));
                }
                let operating =
                    statements.iter().find(|s| s.id == c.id).map(|s| s.operating.clone()).unwrap_or_default();
                for rule in operating.iter().filter(|r| !r.holds) {
                    findings.push(finding(
                        "operating",
                        &format!("{}:{}", c.id, rule.fact),
                        Severity::High,
                        rule.failure(),
                    ));
                }
                let state = if known.is_empty() || !unknown.is_empty() || operating.iter().any(|r| !r.holds) {
                    State::Gap
                } else {
                    known.iter().map(|r| r.state).min().unwrap_or(State::Gap)
                };
                CriterionResult {
                    id: c.id.clone(),
                    title: c.title.clone(),
                    state,
                    checks: c.checks.clone(),
                    findings,
                    operating,
                }
            })
            .collect();
        let mut summary =
            BTreeMap::from([("enforcing".to_string(), 0), ("observe".into(), 0), ("gap".into(), 0)]);
        for c in &criteria {
            let key = match c.state {
                State::Enforcing => "enforcing",
                State::Observe => "observe",
                State::Gap => "gap",
            };
            *summary.entry(key.into()).or_default() += 1;
        }

        let previous = self.latest_scan(framework)?;
        let current: BTreeMap<&str, &Finding> =
            criteria.iter().flat_map(|c| &c.findings).map(|f| (f.key.as_str(), f)).collect();
        let (new_findings, remediated_findings) = match &previous {
            Some(prev) => {
                let before: BTreeMap<&str, &Finding> =
                    prev.criteria.iter().flat_map(|c| &c.findings).map(|f| (f.key.as_str(), f)).collect();
                (
                    current.keys().filter(|k| !before.contains_key(*k)).map(|k| k.to_string()).collect(),
                    before
                        .iter()
                        .filter(|(k, _)| !current.contains_key(*k))
                        .map(|(_, f)| (*f).clone())
                        .collect(),
                )
            }
            None => (current.keys().map(|k| k.to_string()).collect(), Vec::new()),
        };
        let scan = Scan {
            id: crate::ids::new_id("scan"),
            framework: framework.into(),
            started_at,
            completed_at: self.now(),
            run_by,
            criteria,
            checks,
            period: Some(ScanPeriod { from: format_time(from), to: format_time(to) }),
            facts,
            summary,
            previous_scan: previous.map(|p| p.id),
            new_findings,
            remediated_findings,
        };
        let completed = gavel_events::ScanCompleted {
            scan_id: scan.id.clone(),
            framework: framework.into(),
            summary: scan.summary.iter().map(|(k, n)| (k.clone(), *n as u64)).collect(),
            period: scan.period.as_ref().map(|p| gavel_events::ScanPeriod {
                from: p.from.clone(),
                to: p.to.clone(),
                other: Default::default(),
            }),
            criteria: scan
                .criteria
                .iter()
                .map(|c| gavel_events::ScannedCriterion {
                    id: c.id.clone(),
                    state: c.state.as_str().into(),
                    findings: c.findings.iter().map(|f| f.key.clone()).collect(),
                    other: Default::default(),
                })
                .collect(),
            new_findings: scan.new_findings.clone(),
            remediated_findings: scan.remediated_findings.iter().map(|f| f.key.clone()).collect(),
            previous_scan: scan.previous_scan.clone(),
            other: Default::default(),
        };
        self.record(
            gavel_events::kind::SCAN_COMPLETED,
            &actor,
            crate::typed(&completed)?,
            vec![StateOp::put(
                SCANS,
                &scan.id,
                json!(scan),
                DocKeys { k1: Some(framework.into()), ..Default::default() },
                Expect::Absent,
            )],
        )?;
        Ok(scan)
    }

    /// `[max(now - days, the log's first event), now)`.
    fn default_scan_period(&self, days: i64) -> Result<(OffsetDateTime, OffsetDateTime)> {
        let now = self.clock.now();
        let first_event = self
            .store
            .entry(0)?
            .and_then(|e| e.bytes)
            .and_then(|b| serde_json::from_slice::<gavel_ledger::event::Event>(&b).ok())
            .and_then(|e| gavel_evidence::facts::parse_time(&e.time));
        let from = now - Duration::days(days.max(1));
        // The period is half-open: an event recorded at this very instant is in it.
        let to = now + Duration::microseconds(1);
        Ok((first_event.map_or(from, |first| first.max(from)).min(now), to))
    }

    /// Stored scans, newest first, optionally of one framework (readers).
    pub fn compliance_scans(&self, by: &Principal, framework: Option<&str>, limit: u32) -> Result<Vec<Scan>> {
        by.require_reader()?;
        let mut q = DocQuery::new(SCANS, limit.clamp(1, 500));
        q.k1 = framework.map(str::to_string);
        self.store.query_docs(&q)?.into_iter().map(from_doc).collect()
    }

    pub fn compliance_scan_by_id(&self, by: &Principal, id: &str) -> Result<Scan> {
        by.require_reader()?;
        self.doc_by_id(SCANS, "scan", id)
    }

    /// The latest stored scan of a framework (no caller check: for the server's own schedule).
    pub(crate) fn latest_scan(&self, framework: &str) -> Result<Option<Scan>> {
        let mut q = DocQuery::new(SCANS, 1);
        q.k1 = Some(framework.into());
        self.store.query_docs(&q)?.into_iter().next().map(from_doc).transpose()
    }

    fn check_agent_inventory(&self) -> Result<CheckResult> {
        let id = "agent_inventory";
        let agents = self.agents()?;
        let active: Vec<_> = agents.iter().filter(|a| a.status == crate::Status::Active).collect();
        if agents.is_empty() {
            let f = finding(
                id,
                "none",
                Severity::High,
                "no agent is registered: no tool call is governed".into(),
            );
            return Ok(result(id, State::Gap, "no agents registered".into(), vec![f]));
        }
        let findings: Vec<Finding> = active
            .iter()
            .filter(|a| a.owner.trim().is_empty())
            .map(|a| {
                finding(
                    id,
                    &a.id,
                    Severity::Medium,
                    format!("agent {} ({}) has no accountable owner", a.name, a.id),
                )
            })
            .collect();
        let summary = format!(
            "{} agents registered, {} active, {} without an owner",
            agents.len(),
            active.len(),
            findings.len()
        );
        Ok(result(id, State::Enforcing, summary, findings))
    }

    /// Active policy sets by mode, with their active version's policies.
    fn active_sets(&self) -> Result<Vec<(crate::policies::PolicySet, gavel_policy::PolicySetSource)>> {
        let mut out = Vec::new();
        for set in self.policy_sets()? {
            let Some(version) = set.active_version else { continue };
            let v = self.policy_version(&set.set_id, version)?;
            let source = gavel_policy::parse_and_validate(&set.set_id, &v.text)
                .map_err(|e| CoreError::Internal(format!("stored policy {}@{version}: {e}", set.set_id)))?;
            out.push((set, source));
        }
        Ok(out)
    }

    fn check_policy_enforcement(&self, settings: &ScanSettings) -> Result<CheckResult> {
        let id = "policy_enforcement";
        let sets = self.active_sets()?;
        let enforcing: Vec<_> = sets.iter().filter(|(s, _)| s.mode == Mode::Enforce).collect();
        let observing: Vec<_> = sets.iter().filter(|(s, _)| s.mode == Mode::Observe).collect();
        let mut findings: Vec<Finding> = observing
            .iter()
            .map(|(s, _)| {
                finding(id, &s.set_id, Severity::Medium, format!(
                    "policy set {} is still in observe mode: it records what it would have blocked and enforces nothing",
                    s.set_id
                ))
            })
            .collect();
        let policies: usize = enforcing.iter().map(|(_, src)| src.policies.len()).sum();
        let state = if !enforcing.is_empty() {
            State::Enforcing
        } else if !observing.is_empty() {
            State::Observe
        } else {
            findings.push(finding(
                id,
                "none",
                Severity::High,
                "no policy set is active: every tool call is allowed (recorded, not governed)".into(),
            ));
            State::Gap
        };
        if !enforcing.is_empty() && policies < settings.min_active_policies {
            findings.push(finding(
                id,
                "few_policies",
                Severity::Medium,
                format!(
                    "only {policies} enforcing policies are active (fewer than {})",
                    settings.min_active_policies
                ),
            ));
        }
        let summary = format!(
            "{} enforcing set(s) with {policies} policies, {} in observe mode",
            enforcing.len(),
            observing.len()
        );
        Ok(result(id, state, summary, findings))
    }

    fn check_approval_holds(&self) -> Result<CheckResult> {
        let id = "approval_holds";
        let sets = self.active_sets()?;
        let holds = |mode: Mode| {
            sets.iter()
                .filter(|(s, _)| s.mode == mode)
                .flat_map(|(_, src)| &src.policies)
                .filter(|p| p.require_approval)
                .count()
        };
        let (enforced, observed) = (holds(Mode::Enforce), holds(Mode::Observe));
        let (state, findings) = if enforced > 0 {
            (State::Enforcing, vec![])
        } else if observed > 0 {
            (
                State::Observe,
                vec![finding(
                    id,
                    "observe",
                    Severity::Medium,
                    "approval holds exist only in observe mode: sensitive calls run without a human".into(),
                )],
            )
        } else {
            (State::Gap, vec![finding(id, "none", Severity::High,
                "no policy holds sensitive tool calls (payments, external communication, data deletion, privileged) for approval".into())])
        };
        Ok(result(
            id,
            state,
            format!("{enforced} enforcing and {observed} observing approval-hold policies"),
            findings,
        ))
    }

    fn check_change_control(&self) -> Result<CheckResult> {
        let id = "change_control";
        let changes: Vec<crate::policies::PolicyChange> = self.all_docs("policy_changes", 10_000)?;
        let applied: Vec<_> =
            changes.iter().filter(|c| c.status == crate::policies::ChangeStatus::Applied).collect();
        let mut findings: Vec<Finding> = applied
            .iter()
            .filter(|c| c.decided_by.is_none() || c.decided_by.as_deref() == Some(c.proposed_by.as_str()))
            .map(|c| {
                finding(
                    id,
                    &c.id,
                    Severity::High,
                    format!("policy change {} was applied without a second person", c.id),
                )
            })
            .collect();
        let stale_before = gavel_ledger::clock::format_time(self.clock.now() - time::Duration::days(14));
        for c in changes.iter().filter(|c| c.status == crate::policies::ChangeStatus::Pending) {
            if c.proposed_at < stale_before {
                findings.push(finding(
                    id,
                    &c.id,
                    Severity::Low,
                    format!(
                        "policy change {} for {} has waited for approval since {}",
                        c.id, c.set_id, c.proposed_at
                    ),
                ));
            }
        }
        // Tool category changes are policy changes too (they change what policies see).
        let tool_changes: Vec<crate::tool_categories::ToolCategoryChange> =
            self.all_docs(crate::tool_categories::CHANGES, 10_000)?;
        for c in &tool_changes {
            let applied = c.status == crate::policies::ChangeStatus::Applied;
            if applied && (c.decided_by.is_none() || c.decided_by.as_deref() == Some(c.proposed_by.as_str()))
            {
                findings.push(finding(
                    id,
                    &c.id,
                    Severity::High,
                    format!("tool category change {} was applied without a second person", c.id),
                ));
            }
            if c.status == crate::policies::ChangeStatus::Pending && c.proposed_at < stale_before {
                findings.push(finding(
                    id,
                    &c.id,
                    Severity::Low,
                    format!("tool category change {} has waited for approval since {}", c.id, c.proposed_at),
                ));
            }
        }
        let state = if findings.iter().any(|f| f.severity == Severity::High) {
            State::Gap
        } else if applied.is_empty() {
            findings.push(finding(
                id,
                "none",
                Severity::High,
                "no policy change has gone through two-person approval yet".into(),
            ));
            State::Gap
        } else {
            State::Enforcing
        };
        Ok(result(id, state, format!("{} changes applied with two-person approval", applied.len()), findings))
    }

    fn check_credential_rotation(&self, settings: &ScanSettings) -> Result<CheckResult> {
        let id = "credential_rotation";
        let limit = gavel_ledger::clock::format_time(
            self.clock.now() - time::Duration::days(settings.credential_max_age_days),
        );
        let mut findings = Vec::new();
        let active: Vec<_> =
            self.agents()?.into_iter().filter(|a| a.status == crate::Status::Active).collect();
        for agent in &active {
            if let Some(doc) = self.store.get_doc("credentials", &agent.id)? {
                if doc.time < limit {
                    findings.push(finding(
                        id,
                        &agent.id,
                        Severity::Low,
                        format!(
                            "agent {}'s credential was issued {} and not rotated in {} days",
                            agent.name, doc.time, settings.credential_max_age_days
                        ),
                    ));
                }
            }
        }
        let summary = format!(
            "{} of {} active agents hold a credential older than {} days",
            findings.len(),
            active.len(),
            settings.credential_max_age_days
        );
        Ok(result(id, State::Enforcing, summary, findings))
    }

    fn check_deactivation_enforced(&self) -> Result<CheckResult> {
        let id = "deactivation_enforced";
        let mut findings = Vec::new();
        let mut withdrawn = 0;
        for agent in self.agents()?.into_iter().filter(|a| a.status != crate::Status::Active) {
            withdrawn += 1;
            let Some(doc) = self.store.get_doc("agents", &agent.id)? else { continue };
            let mut q = DocQuery::new("decisions", 1);
            q.k1 = Some(agent.id.clone());
            q.k3 = Some("allow".into());
            q.since = Some(doc.time.clone());
            if self.store.count_docs(&q)? > 0 {
                findings.push(finding(
                    id,
                    &agent.id,
                    Severity::High,
                    format!(
                        "agent {} was allowed a call after it was {} at {}",
                        agent.name,
                        agent.status.as_str(),
                        doc.time
                    ),
                ));
            }
        }
        let state = if findings.is_empty() { State::Enforcing } else { State::Gap };
        Ok(result(
            id,
            state,
            format!("{withdrawn} suspended or deactivated agents, {} allowed afterwards", findings.len()),
            findings,
        ))
    }

    fn check_bypass_findings(&self) -> Result<CheckResult> {
        let id = "bypass_findings";
        let docs = self.store.query_docs(&DocQuery::new("findings", 1000))?;
        let is_resolved = |d: &&gavel_store::docs::Doc| d.body["status"] == "resolved";
        let resolved = docs.iter().filter(is_resolved).count();
        let findings: Vec<Finding> = docs
            .iter()
            .filter(|d| !is_resolved(d))
            .map(|d| {
                let detail = d.body["detail"].as_str().unwrap_or("executed a call it was not allowed to");
                finding(
                    id,
                    &d.id,
                    Severity::High,
                    format!(
                        "bypass: agent {} {detail} (decision {}, {}; {})",
                        d.body["agent_name"].as_str().unwrap_or("?"),
                        d.body["decision_id"].as_str().unwrap_or("?"),
                        d.time,
                        d.body["status"].as_str().unwrap_or("open")
                    ),
                )
            })
            .collect();
        let summary = format!("{} open bypass finding(s), {resolved} resolved", findings.len());
        Ok(result(id, State::Enforcing, summary, findings))
    }

    fn check_monitoring_webhooks(&self) -> Result<CheckResult> {
        let id = "monitoring_webhooks";
        let endpoints: Vec<crate::webhooks::Endpoint> = self.all_docs("webhooks", 10_000)?;
        let enabled: Vec<_> = endpoints.iter().filter(|e| e.enabled).collect();
        let mut findings = Vec::new();
        for e in &endpoints {
            if !e.enabled {
                findings.push(finding(
                    id,
                    &e.id,
                    Severity::Low,
                    format!(
                        "webhook {} ({}) is disabled: {}",
                        e.id,
                        e.url,
                        e.disabled_reason.as_deref().unwrap_or("no reason given")
                    ),
                ));
                continue;
            }
            let cursor: crate::webhooks::Cursor = match self.store.get_doc("webhook_cursors", &e.id)? {
                Some(d) => from_doc(d)?,
                None => crate::webhooks::Cursor::default(),
            };
            let total = cursor.delivered + cursor.failed + cursor.retrying;
            if total >= 10 && (cursor.delivered as f64) < 0.95 * total as f64 {
                findings.push(finding(
                    id,
                    &e.id,
                    Severity::Medium,
                    format!(
                        "webhook {} ({}) delivered {} of {} attempts (below 95%)",
                        e.id, e.url, cursor.delivered, total
                    ),
                ));
            }
        }
        let state = if enabled.is_empty() {
            findings.push(finding(
                id,
                "none",
                Severity::High,
                "no webhook endpoint streams events to a SIEM".into(),
            ));
            State::Gap
        } else {
            State::Enforcing
        };
        Ok(result(
            id,
            state,
            format!("{} of {} webhook endpoints enabled", enabled.len(), endpoints.len()),
            findings,
        ))
    }

    fn check_detectors(&self) -> Result<CheckResult> {
        let id = "detectors";
        let head = self.store.head()?.size;
        let position = self.detectors_position()?;
        let behind = head.saturating_sub(position);
        // The scan's own event and a few in flight are always ahead of the detectors.
        let (state, findings) = if head > 0 && position == 0 {
            (
                State::Gap,
                vec![finding(
                    id,
                    "never_ran",
                    Severity::High,
                    "the detectors have never read the log (is `gavel serve` running?)".into(),
                )],
            )
        } else if behind > 10_000 {
            (
                State::Observe,
                vec![finding(
                    id,
                    "lagging",
                    Severity::Medium,
                    format!("the detectors are {behind} events behind the head of the log"),
                )],
            )
        } else {
            (State::Enforcing, vec![])
        };
        Ok(result(id, state, format!("detectors have read {position} of {head} events"), findings))
    }

    fn check_incident_response(&self) -> Result<CheckResult> {
        let id = "incident_response";
        let incidents: Vec<crate::incidents::Incident> =
            self.all_docs(crate::incidents::INCIDENTS, 10_000)?;
        let week_ago = gavel_ledger::clock::format_time(self.clock.now() - time::Duration::days(7));
        let mut findings = Vec::new();
        let mut open = 0;
        for incident in &incidents {
            if incident.status == crate::incidents::IncidentStatus::Resolved {
                continue;
            }
            open += 1;
            if incident.owner.is_none() {
                findings.push(finding(
                    id,
                    &format!("{}:owner", incident.id),
                    Severity::Medium,
                    format!("incident {} ({}) has no owner", incident.id, incident.title),
                ));
            }
            let mut q = DocQuery::new(crate::incidents::ENTRIES, 1);
            q.k1 = Some(incident.id.clone());
            q.ascending = true;
            let opened_at = self.store.query_docs(&q)?.into_iter().next().map(|d| d.time);
            if opened_at.as_deref().is_some_and(|t| t < week_ago.as_str()) {
                findings.push(finding(
                    id,
                    &format!("{}:age", incident.id),
                    Severity::Medium,
                    format!(
                        "incident {} ({}) has been open since {}",
                        incident.id,
                        incident.title,
                        opened_at.as_deref().unwrap_or("?")
                    ),
                ));
            }
        }
        let summary = format!("{} incidents, {open} not resolved", incidents.len());
        Ok(result(id, State::Enforcing, summary, findings))
    }

    fn check_containment(&self) -> Result<CheckResult> {
        let id = "containment";
        let mut findings = Vec::new();
        for switch in self.kill_switches()?.into_iter().filter(|k| k.engaged && k.incident_id.is_none()) {
            findings.push(finding(
                id,
                &switch.scope.key(),
                Severity::Low,
                format!("kill switch {} is engaged with no incident linked", switch.scope.key()),
            ));
        }
        let active: Vec<_> =
            self.agents()?.into_iter().filter(|a| a.status == crate::Status::Active).collect();
        let unlimited = active.iter().filter(|a| a.limits == crate::containment::Limits::default()).count();
        if unlimited > 0 {
            findings.push(finding(
                id,
                "unlimited_agents",
                Severity::Low,
                format!(
                    "{unlimited} of {} active agents have neither a rate limit nor a cost cap",
                    active.len()
                ),
            ));
        }
        Ok(result(
            id,
            State::Enforcing,
            format!("{} findings on kill switches and agent limits", findings.len()),
            findings,
        ))
    }

    fn check_retention(&self) -> Result<CheckResult> {
        let id = "retention";
        let policy = self.retention_policy()?;
        let ok = policy.days >= crate::retention::MIN_RETENTION_DAYS;
        let findings = if ok {
            vec![]
        } else {
            vec![finding(
                id,
                "period",
                Severity::High,
                format!("retention is {} days, below 365", policy.days),
            )]
        };
        let state = if ok { State::Enforcing } else { State::Gap };
        Ok(result(id, state, format!("records are kept {} days", policy.days), findings))
    }

    fn check_log_integrity(&self) -> Result<CheckResult> {
        let id = "log_integrity";
        let report = self.store.verify(0, None, vec![])?;
        if report.valid {
            let summary = format!(
                "{} events verified ({} payloads purged under retention)",
                report.verified, report.purged
            );
            return Ok(result(id, State::Enforcing, summary, vec![]));
        }
        let f = finding(
            id,
            "chain",
            Severity::High,
            format!(
                "the log does not verify at seq {}: {}",
                report.first_break.map_or("?".into(), |s| s.to_string()),
                report.reason.as_deref().unwrap_or("unknown")
            ),
        );
        Ok(result(id, State::Gap, "the log does not verify".into(), vec![f]))
    }
}

/// The scan plan of a framework data file: each criterion with the checks it names. Disclosed
/// gaps are not scanned (they are organizational; bundles disclose them).
pub fn plan_of(framework: &gavel_evidence::framework::Framework) -> Vec<CriterionPlan> {
    framework
        .criteria
        .iter()
        .map(|c| CriterionPlan { id: c.id.clone(), title: c.title.clone(), checks: c.checks.clone() })
        .collect()
}

/// The check ids a plan names that gavel does not have (a framework file should be fixed).
pub fn unknown_checks(plan: &[CriterionPlan]) -> BTreeSet<String> {
    let known: BTreeSet<&str> = CHECKS.iter().map(|(id, _)| *id).collect();
    plan.iter().flat_map(|c| &c.checks).filter(|c| !known.contains(c.as_str())).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_the_built_in_frameworks_name_exists() {
        let soc2 = gavel_evidence::framework::Framework::soc2().expect("soc2 parses");
        let plan = plan_of(&soc2);
        assert_eq!(plan.len(), 9);
        assert!(plan.iter().all(|c| !c.checks.is_empty()), "every SOC 2 criterion names its checks");
        assert!(unknown_checks(&plan).is_empty(), "{:?}", unknown_checks(&plan));
        let hipaa = gavel_evidence::framework::Framework::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../frameworks/hipaa-164.312-sample.toml"
        ))
        .expect("hipaa sample parses");
        assert!(unknown_checks(&plan_of(&hipaa)).is_empty());
        let used: BTreeSet<&str> = plan.iter().flat_map(|c| c.checks.iter().map(String::as_str)).collect();
        for (id, _) in CHECKS {
            assert!(used.contains(id), "check {id} is not used by any SOC 2 criterion");
        }
    }
}
