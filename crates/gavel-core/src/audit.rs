//! Audit queries over recorded decisions, and the end-to-end trace of one action: the first
//! question an auditor asks ("who authorized this, under which policy, approved by whom?").

use crate::decide::DecisionRecord;
use crate::error::{CoreError, Result};
use crate::identity::Principal;
use crate::policies::{ChangeAction, ChangeStatus, PolicyChange};
use crate::Gavel;
use gavel_policy::Outcome;
use gavel_store::docs::{Doc, DocQuery};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MAX_PAGE: u32 = 1000;

/// Which recorded decisions to list (the query of `GET /v1/audit`).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Agent id or name.
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub outcome: Option<Outcome>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of recorded decisions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page {
    pub items: Vec<DecisionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One recorded decision with the seq and time of its event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionView {
    #[serde(flatten)]
    pub record: DecisionRecord,
    pub seq: u64,
    pub time: String,
}

fn decision_view(doc: Doc) -> Result<DecisionView> {
    let (seq, time) = (doc.seq, doc.time.clone());
    Ok(DecisionView { record: crate::from_doc(doc)?, seq, time })
}

/// A query bound: a date (midnight UTC) or an RFC 3339 time, in the log's time form.
fn bound(name: &str, value: &Option<String>) -> Result<Option<String>> {
    value.as_deref().map(|s| crate::retention::parse_bound(name, s)).transpose()
}

impl Gavel {
    /// Decisions matching `filter`, newest first.
    pub fn audit_decisions(&self, by: &Principal, filter: &AuditFilter) -> Result<Page> {
        by.require_reader()?;
        let limit = filter.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_PAGE {
            return Err(CoreError::Invalid(format!("limit must be 1..={MAX_PAGE}")));
        }
        let mut q = DocQuery::new("decisions", limit + 1);
        q.k1 = filter.agent.as_ref().map(|a| self.agent(a).map(|a| a.id).unwrap_or_else(|_| a.clone()));
        q.k2 = filter.tool.clone();
        q.k3 = filter.outcome.map(|o| o.as_str().to_string());
        q.since = bound("since", &filter.since)?;
        q.until = bound("until", &filter.until)?;
        q.before_seq = filter
            .cursor
            .as_deref()
            .map(|c| c.parse::<u64>().map_err(|_| CoreError::Invalid(format!("cursor {c:?} is not valid"))))
            .transpose()?;
        let mut docs = self.store.query_docs(&q)?;
        let next_cursor = if docs.len() > limit as usize {
            docs.truncate(limit as usize);
            docs.last().map(|d| d.seq.to_string())
        } else {
            None
        };
        Ok(Page { items: docs.into_iter().map(decision_view).collect::<Result<_>>()?, next_cursor })
    }

    /// One decision as recorded.
    pub fn decision(&self, by: &Principal, decision_id: &str) -> Result<DecisionView> {
        if let Principal::Agent(a) = by {
            // An agent may read its own decisions (to poll), nobody else's.
            let doc = self.decision_doc(decision_id)?;
            if doc.keys.k1.as_deref() != Some(a.id.as_str()) {
                return Err(CoreError::NotFound(format!("no decision {decision_id:?}")));
            }
            return decision_view(doc);
        }
        by.require_reader()?;
        decision_view(self.decision_doc(decision_id)?)
    }

    fn decision_doc(&self, decision_id: &str) -> Result<Doc> {
        self.store
            .get_doc("decisions", decision_id)?
            .ok_or_else(|| CoreError::NotFound(format!("no decision {decision_id:?}")))
    }

    /// One action end to end: the principal, on whose behalf, the policy text versions that
    /// fired with who wrote and who approved them, the decision, and (once recorded) the approval
    /// and execution outcome.
    pub fn trace(&self, by: &Principal, decision_id: &str) -> Result<Trace> {
        by.require_reader()?;
        let doc = self.decision_doc(decision_id)?;
        let decision = decision_view(doc)?;
        let decision_time = decision.time.as_str();
        let record = &decision.record;
        let agent = self.agent(&record.agent_id).ok();
        let mut policies = Vec::new();
        let observed = record.would_have_policies.as_deref().unwrap_or_default();
        for (p, enforced) in
            record.policies.iter().map(|p| (p, true)).chain(observed.iter().map(|p| (p, false)))
        {
            let (set_id, version) = (p.set_id.as_str(), p.version);
            let text = self.policy_version(set_id, version).ok();
            // The applied activation in force when the decision was made (a rejected change
            // or a later re-approval must not be shown as this decision's authority).
            let changes = self.policy_changes(Some(set_id), Some(ChangeStatus::Applied))?;
            let in_force = |c: &&PolicyChange| c.decided_at.as_deref().is_some_and(|t| t <= decision_time);
            let activation = changes
                .iter()
                .filter(in_force)
                .find(|c| c.action == ChangeAction::Activate && c.version == Some(version))
                .cloned();
            let go_live =
                changes.iter().filter(in_force).find(|c| c.action == ChangeAction::SetMode).cloned();
            // A pack's first version is installed active in observe mode (it enforces nothing, so
            // one admin may install it); what let it enforce is the two-person go-live, so for an
            // enforced policy with no activation of its own, that change is the authority.
            let authority = activation.clone().or_else(|| go_live.clone().filter(|_| enforced));
            policies.push(TracedPolicy {
                set_id: set_id.to_string(),
                version,
                policy_id: p.policy_id.clone(),
                enforced,
                sha256: text.as_ref().map(|t| t.sha256.clone()),
                text: text.as_ref().map(|t| t.text.clone()),
                author: text.as_ref().map(|t| t.author_name.clone()),
                source: text.as_ref().and_then(|t| t.source.clone()),
                approved_by: authority.as_ref().and_then(|c| c.decided_by_name.clone()),
                proposed_by: authority.as_ref().map(|c| c.proposed_by_name.clone()),
                activated_at: activation
                    .as_ref()
                    .and_then(|c| c.decided_at.clone())
                    .or_else(|| text.as_ref().map(|t| t.created_at.clone())),
                change_id: authority.as_ref().map(|c| c.id.clone()),
                mode_approved_by: go_live.as_ref().and_then(|c| c.decided_by_name.clone()),
                mode_change_id: go_live.as_ref().map(|c| c.id.clone()),
            });
        }
        let approval = match record.approval_id.as_deref() {
            Some(id) => match self.store.get_doc("approvals", id)? {
                // The same view every reader gets: expiry applied, no receipt.
                Some(doc) => {
                    Some(TracedApproval { approval: self.approval(by, id)?, last_changed_seq: doc.seq })
                }
                None => None,
            },
            None => None,
        };
        let outcome = self.store.get_doc("outcomes", decision_id)?.map(|d| d.body);
        Ok(Trace {
            decision_id: decision_id.to_string(),
            time: decision.time.clone(),
            seq: decision.seq,
            principal: match agent {
                Some(a) => TracedPrincipal::Agent(a),
                None => TracedPrincipal::Gone(GoneAgent { id: record.agent_id.clone() }),
            },
            on_behalf_of: record.on_behalf_of.clone(),
            tool: record.tool.clone(),
            resource: record.resource.clone(),
            decision: record.decision,
            enforced: record.enforced,
            would_have: record.would_have,
            reasons: record.reasons.clone(),
            policies,
            approval,
            outcome,
            record: decision,
        })
    }
}

/// One action end to end (`GET /v1/audit/trace/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Trace {
    pub decision_id: String,
    pub time: String,
    pub seq: u64,
    /// The agent that made the call.
    pub principal: TracedPrincipal,
    pub on_behalf_of: Option<String>,
    pub tool: String,
    pub resource: Option<String>,
    pub decision: Outcome,
    pub enforced: bool,
    pub would_have: Option<Outcome>,
    pub reasons: Vec<String>,
    /// Each policy that decided (enforced) or would have (observed), with its text and authority.
    pub policies: Vec<TracedPolicy>,
    /// The approval request of a held call, as every reader sees it.
    pub approval: Option<TracedApproval>,
    /// The outcome the agent reported, once recorded.
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<Value>,
    /// The decision as recorded.
    pub record: DecisionView,
}

/// The agent of a traced decision: as registered now, or only its id when it is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TracedPrincipal {
    Agent(crate::Agent),
    Gone(GoneAgent),
}

/// An agent no longer registered: only its id (no other member, so it is never read as one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoneAgent {
    pub id: String,
}

/// A policy of a traced decision: its text version, author and the change that put it in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TracedPolicy {
    pub set_id: String,
    pub version: u32,
    pub policy_id: String,
    /// True for a policy that decided, false for one that only observed.
    pub enforced: bool,
    pub sha256: Option<String>,
    pub text: Option<String>,
    pub author: Option<String>,
    pub source: Option<String>,
    pub approved_by: Option<String>,
    pub proposed_by: Option<String>,
    pub activated_at: Option<String>,
    pub change_id: Option<String>,
    /// Who approved the set's go-live to enforce mode, if it went live by a mode change.
    pub mode_approved_by: Option<String>,
    pub mode_change_id: Option<String>,
}

/// The approval of a traced decision, with the seq of the event that last changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TracedApproval {
    #[serde(flatten)]
    pub approval: crate::approvals::Approval,
    pub last_changed_seq: u64,
}
