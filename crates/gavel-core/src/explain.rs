//! "What would happen if this agent called this tool?" — a dry run of the decision path for
//! people (an auditor's second question: show the allowlist and what fires on a call an agent
//! should not make). Reads only; nothing is recorded and no approval is opened.
//!
//! The verdict is computed exactly as `decide` computes it (same engine, same containment
//! checks, same tool call built from the registered agent), and each determining policy is
//! returned with its source text from the version in force.

use crate::decide::{check_request, tool_call, DecideContext, DecideRequest};
use crate::{CoreError, Gavel, Principal, Result, Status};
use gavel_policy::{Outcome, PolicyRef};
use serde::{Deserialize, Serialize};

/// A call an agent might make, to explain (the body of `POST /v1/policies/explain`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ExplainBody)]
pub struct ExplainRequest {
    /// The agent, by id or name.
    pub agent: String,
    pub tool: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub arguments: Option<serde_json::Value>,
    #[serde(default)]
    pub on_behalf_of: Option<String>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
}

impl ExplainRequest {
    /// The call as `decide` would get it from the agent (no resource, no claimed environment).
    fn call(self) -> (String, DecideRequest) {
        let req = DecideRequest {
            tool: self.tool,
            resource: None,
            arguments: self.arguments,
            on_behalf_of: self.on_behalf_of,
            context: DecideContext { environment: None, cost_usd: self.cost_usd },
        };
        (self.agent, req)
    }
}

/// One determining policy, with the text that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FiredPolicy {
    #[serde(flatten)]
    pub reference: PolicyRef,
    /// The policy's source (annotations included) from the version in force.
    pub text: String,
}

/// What a call would get now, and why (`POST /v1/policies/explain`); nothing is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    pub agent_id: String,
    pub agent_name: String,
    pub agent_status: Status,
    pub tool: String,
    pub tool_category: Option<String>,
    pub decision: Outcome,
    pub enforced: bool,
    pub would_have: Option<Outcome>,
    pub reasons: Vec<String>,
    pub policies: Vec<FiredPolicy>,
    pub would_have_policies: Vec<FiredPolicy>,
    /// The kill switch or limit that would refuse the call before any policy, if one would.
    #[schema(value_type = Option<Object>)]
    pub containment: Option<serde_json::Value>,
    /// Always false: an explanation is never a decision.
    pub recorded: bool,
}

/// The text of policy `id` in `text`: from its first line up to the next policy's first line,
/// without trailing blank and comment lines (they belong to the next policy).
fn policy_text(text: &str, starts: &[(String, u32)], id: &str) -> Option<String> {
    let mut lines: Vec<u32> = starts.iter().map(|(_, l)| *l).collect();
    lines.sort_unstable();
    let start = starts.iter().find(|(p, _)| p == id)?.1;
    let end = lines.iter().copied().find(|l| *l > start);
    let body: Vec<&str> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u32 + 1, l))
        .filter(|(n, _)| *n >= start && end.is_none_or(|e| *n < e))
        .map(|(_, l)| l)
        .collect();
    let keep = body.iter().rposition(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))?;
    Some(body[..=keep].join("\n"))
}

impl Gavel {
    /// Explains what a call by the request's agent (id or name) would get now (readers).
    pub fn explain(&self, by: &Principal, request: ExplainRequest) -> Result<Explanation> {
        by.require_reader()?;
        let (agent, req) = request.call();
        let agent = self.agent(&agent)?;
        let arguments = check_request(&req)?;
        let now = self.clock.now();
        let inputs = self.decision_inputs(&agent, &req.tool)?;
        let (category, epoch, switches) = (inputs.category, inputs.policy_epoch, inputs.switches);
        let mut out = Explanation {
            agent_id: agent.id.clone(),
            agent_name: agent.name.clone(),
            agent_status: agent.status,
            tool: req.tool.clone(),
            tool_category: category.clone(),
            decision: Outcome::Deny,
            enforced: true,
            would_have: None,
            reasons: vec![],
            policies: vec![],
            would_have_policies: vec![],
            containment: None,
            recorded: false,
        };
        if agent.status != Status::Active {
            out.reasons = vec![format!("agent {} is {}", agent.name, agent.status.as_str())];
            return Ok(out);
        }
        if let Some(breach) =
            self.containment_breach(&agent, &req.tool, req.context.cost_usd, now, &switches)?
        {
            out.reasons = vec![breach.reason];
            out.containment = Some(breach.containment);
            return Ok(out);
        }
        let evaluation = self.engine_at(epoch)?.evaluate(&tool_call(&agent, &req, &arguments, category, now));
        match evaluation.enforced {
            Some(v) => {
                out.decision = v.outcome;
                out.reasons = v.reasons;
                out.policies = self.fired(&v.policies)?;
            }
            None => {
                out.decision = Outcome::Allow;
                out.enforced = false;
                out.reasons = vec!["no enforcing policy: allowed in permissive mode, recorded".into()];
            }
        }
        if let Some(w) = evaluation.would_have {
            out.would_have = Some(w.outcome);
            out.would_have_policies = self.fired(&w.policies)?;
        }
        Ok(out)
    }

    fn fired(&self, refs: &[PolicyRef]) -> Result<Vec<FiredPolicy>> {
        refs.iter()
            .map(|r| {
                let version = self.policy_version(&r.set_id, r.version)?;
                let source = gavel_policy::parse_and_validate(&r.set_id, &version.text).map_err(|e| {
                    CoreError::Internal(format!("stored policy {}@{}: {e}", r.set_id, r.version))
                })?;
                let starts: Vec<(String, u32)> =
                    source.policies.iter().map(|p| (p.id.clone(), p.line)).collect();
                let text = policy_text(&version.text, &starts, &r.policy_id).unwrap_or_default();
                Ok(FiredPolicy { reference: r.clone(), text })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::policy_text;

    #[test]
    fn a_policy_text_stops_before_the_next_policy_and_its_comments() {
        let text = "// header\n@id(\"a\")\npermit (principal, action, resource);\n\n// about b\n@id(\"b\")\nforbid (principal, action, resource);\n";
        let starts = vec![("a".to_string(), 2), ("b".to_string(), 6)];
        assert_eq!(
            policy_text(text, &starts, "a").unwrap(),
            "@id(\"a\")\npermit (principal, action, resource);"
        );
        assert_eq!(
            policy_text(text, &starts, "b").unwrap(),
            "@id(\"b\")\nforbid (principal, action, resource);"
        );
        assert!(policy_text(text, &starts, "c").is_none());
    }
}
