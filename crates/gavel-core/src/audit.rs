//! Audit queries over recorded decisions, and the end-to-end trace of one action: the first
//! question an auditor asks ("who authorized this, under which policy, approved by whom?").

use crate::error::{CoreError, Result};
use crate::identity::Principal;
use crate::policies::{ChangeAction, ChangeStatus, PolicyChange};
use crate::Gavel;
use gavel_store::docs::{Doc, DocQuery};
use serde::Serialize;
use serde_json::{json, Value};

pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Agent id or name.
    pub agent: Option<String>,
    pub tool: Option<String>,
    /// allow | deny | require_approval
    pub outcome: Option<String>,
    /// RFC 3339 bounds: since inclusive, until exclusive.
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub items: Vec<Value>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn decision_view(doc: Doc) -> Value {
    let mut v = doc.body;
    v["seq"] = json!(doc.seq);
    v["time"] = json!(doc.time);
    v
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
        if let Some(o) = &filter.outcome {
            if !["allow", "deny", "require_approval"].contains(&o.as_str()) {
                return Err(CoreError::Invalid(format!(
                    "outcome {o:?} must be allow, deny or require_approval"
                )));
            }
        }
        let mut q = DocQuery::new("decisions", limit + 1);
        q.k1 = filter.agent.as_ref().map(|a| self.agent(a).map(|a| a.id).unwrap_or_else(|_| a.clone()));
        q.k2 = filter.tool.clone();
        q.k3 = filter.outcome.clone();
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
        Ok(Page { items: docs.into_iter().map(decision_view).collect(), next_cursor })
    }

    /// One decision as recorded.
    pub fn decision(&self, by: &Principal, decision_id: &str) -> Result<Value> {
        if let Principal::Agent(a) = by {
            // An agent may read its own decisions (to poll), nobody else's.
            let doc = self.decision_doc(decision_id)?;
            if doc.keys.k1.as_deref() != Some(a.id.as_str()) {
                return Err(CoreError::NotFound(format!("no decision {decision_id:?}")));
            }
            return Ok(decision_view(doc));
        }
        by.require_reader()?;
        Ok(decision_view(self.decision_doc(decision_id)?))
    }

    fn decision_doc(&self, decision_id: &str) -> Result<Doc> {
        self.store
            .get_doc("decisions", decision_id)?
            .ok_or_else(|| CoreError::NotFound(format!("no decision {decision_id:?}")))
    }

    /// One action end to end: the principal, on whose behalf, the policy text versions that
    /// fired with who wrote and who approved them, the decision, and (once recorded) the approval
    /// and execution outcome.
    pub fn trace(&self, by: &Principal, decision_id: &str) -> Result<Value> {
        by.require_reader()?;
        let doc = self.decision_doc(decision_id)?;
        let decision = decision_view(doc);
        let decision_time = decision["time"].as_str().unwrap_or_default().to_string();
        let decision_time = decision_time.as_str();
        let agent = decision["agent_id"].as_str().and_then(|id| self.agent(id).ok());
        let mut policies = Vec::new();
        let fired = decision["policies"].as_array().cloned().unwrap_or_default();
        let observed = decision["would_have_policies"].as_array().cloned().unwrap_or_default();
        for (p, enforced) in fired.iter().map(|p| (p, true)).chain(observed.iter().map(|p| (p, false))) {
            let (Some(set_id), Some(version)) = (p["set_id"].as_str(), p["version"].as_u64()) else {
                continue;
            };
            let version = u32::try_from(version).unwrap_or(u32::MAX);
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
            policies.push(json!({
                "set_id": set_id, "version": version, "policy_id": p["policy_id"], "enforced": enforced,
                "sha256": text.as_ref().map(|t| t.sha256.clone()),
                "text": text.as_ref().map(|t| t.text.clone()),
                "author": text.as_ref().map(|t| t.author_name.clone()),
                "source": text.as_ref().and_then(|t| t.source.clone()),
                "approved_by": authority.as_ref().and_then(|c| c.decided_by_name.clone()),
                "proposed_by": authority.as_ref().map(|c| c.proposed_by_name.clone()),
                "activated_at": activation.as_ref().and_then(|c| c.decided_at.clone())
                    .or_else(|| text.as_ref().map(|t| t.created_at.clone())),
                "change_id": authority.as_ref().map(|c| c.id.clone()),
                "mode_approved_by": go_live.as_ref().and_then(|c| c.decided_by_name.clone()),
                "mode_change_id": go_live.as_ref().map(|c| c.id.clone()),
            }));
        }
        let approval = match decision["approval_id"].as_str() {
            Some(id) => match self.store.get_doc("approvals", id)? {
                Some(doc) => {
                    // The same view every reader gets: expiry applied, no receipt.
                    let mut body = json!(self.approval(by, id)?);
                    body["last_changed_seq"] = json!(doc.seq);
                    Some(body)
                }
                None => None,
            },
            None => None,
        };
        let outcome = self.store.get_doc("outcomes", decision_id)?.map(|d| d.body);
        Ok(json!({
            "decision_id": decision_id,
            "time": decision["time"],
            "seq": decision["seq"],
            "principal": agent.map(|a| json!(a)).unwrap_or_else(|| json!({"id": decision["agent_id"]})),
            "on_behalf_of": decision["on_behalf_of"],
            "tool": decision["tool"],
            "resource": decision["resource"],
            "decision": decision["decision"],
            "enforced": decision["enforced"],
            "would_have": decision["would_have"],
            "reasons": decision["reasons"],
            "policies": policies,
            "approval": approval,
            "outcome": outcome,
            "record": decision,
        }))
    }
}
