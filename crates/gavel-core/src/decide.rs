//! The decision path: one agent tool call in, one recorded decision out.
//!
//! Invariants:
//! * nothing is answered before its `decision` event is committed; if the log cannot commit, the
//!   caller gets [`CoreError::Unavailable`] and must treat the call as denied (fail closed);
//! * a deactivated or suspended agent is denied, and the denial is recorded like any decision;
//! * with no enforcing policy the call is allowed but `enforced: false` says so (onboarding), and
//!   observe-mode packs record what they *would have* decided;
//! * secrets in arguments are redacted before anything is stored; the SHA-256 of the canonical,
//!   unredacted arguments is kept so an approval or outcome can be bound to the exact call;
//! * containment is checked before policies; the tool category, kill switches, policy epoch and
//!   identity epoch are read in one read transaction;
//! * agents are authenticated from an in-process cache whose entries carry the identity epoch
//!   they were read at (read *before* the credential, so a racing change leaves an entry stale,
//!   never trusted) and are confirmed in that same transaction: a deactivation, suspension,
//!   rotation or limit change on any replica applies from the next call. Other routes
//!   authenticate uncached;
//! * `decide` records one `decision` event (agent, on-behalf-of, tool, category, resource,
//!   redacted arguments, their digest, policies with versions, outcome, `would_have`, reasons,
//!   latency) with its `decisions/<id>` document (k1 agent, k2 tool, k3 outcome);
//!   [`Gavel::submit_decision_with_token`] does everything up to the append and returns a
//!   [`PendingDecision`] that yields the answer only once the event is committed;
//! * a decision asked through another front end than `POST /v1/decide` says which in `via`
//!   ([`DecidedVia`]), set by that front end's route, never by the request body.

use crate::error::{CoreError, Result};
use crate::identity::{Principal, Status};
use crate::ids::new_ordered_id;
use crate::redact::{redact, Redaction};
use crate::Gavel;
use gavel_policy::{Outcome, PolicyRef, ToolCall, Verdict};
use gavel_store::docs::{DocKeys, Expect, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Instant;

/// What the agent says about the circumstances of a call. Serialize: the MCP gateway sends it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DecideContextBody)]
pub struct DecideContext {
    /// The environment the agent says it runs in; the registered one is what policies see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The cost of the call in US dollars, for cost caps and policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// A tool call an agent is about to make (the body of `POST /v1/decide`). Serialize: the MCP
/// gateway sends it as its agent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
// The component names of the OpenAPI document are the ones the server's own body types had
// (`DecideBody`, `NewAgentBody`, …), so clients generated from it keep their type names.
#[schema(as = DecideBody)]
pub struct DecideRequest {
    /// Tool name, e.g. `send_email`.
    pub tool: String,
    /// What the tool acts on, e.g. a customer id or a file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The tool arguments (a JSON object). Secrets are redacted before storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub arguments: Option<Value>,
    /// The human the agent acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    /// Absent or null: no context.
    #[serde(default, deserialize_with = "null_as_default")]
    #[schema(value_type = Option<DecideContext>)]
    pub context: DecideContext,
}

/// Reads a JSON `null` as the type's default, so a request member that is optional on the wire
/// (absent or null) can be a plain value in the request type.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The front end a decision was asked through, when it was not `POST /v1/decide` (the decision
/// record's `via`). The server sets it from the route that took the call; no request body can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecidedVia {
    /// A proxy's external-authorization check (Envoy's `ext_authz` HTTP filter, and the proxies
    /// built on it) asked before forwarding the call: gavel never sees that call's outcome.
    ExtAuthz,
}

/// The decision on one tool call, answered after it is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecideResponse {
    pub decision_id: String,
    pub decision: Outcome,
    /// False when no enforcing policy exists (permissive-but-recorded).
    pub enforced: bool,
    /// What observe-mode policies would have decided, when any are installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_have: Option<Outcome>,
    pub policies: Vec<PolicyRef>,
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The log seq of the decision event.
    pub seq: u64,
}

/// One decision as recorded: the `decision` event's data and the `decisions/<id>` document (which
/// retention drops with the event's payload). Members added after the first release are optional
/// when read, so every stored decision reads back; serialized, it is the same JSON the event
/// always carried (a unit test pins it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    pub decision_id: String,
    pub agent_id: String,
    pub agent_name: String,
    /// The agent's state when the call was decided.
    pub agent_status: Status,
    pub on_behalf_of: Option<String>,
    pub tool: String,
    /// The tool's category, if the tool registry categorises it (a pack, or a two-person change).
    pub tool_category: Option<String>,
    pub resource: Option<String>,
    /// The call's arguments, secrets redacted.
    #[schema(value_type = Object)]
    pub arguments: Value,
    /// SHA-256 of the canonical (RFC 8785) unredacted arguments.
    pub arguments_sha256: String,
    /// What was redacted, and where.
    pub redactions: Vec<Redaction>,
    /// The agent's registered environment (what policies see).
    pub environment: String,
    /// The environment the agent said it runs in.
    pub claimed_environment: Option<String>,
    pub cost_usd: Option<f64>,
    pub decision: Outcome,
    /// False when no enforcing policy exists (permissive-but-recorded).
    pub enforced: bool,
    pub policies: Vec<PolicyRef>,
    pub reasons: Vec<String>,
    /// Policy evaluation errors.
    pub errors: Vec<String>,
    /// What observe-mode policies would have decided, when any are installed.
    pub would_have: Option<Outcome>,
    pub would_have_policies: Option<Vec<PolicyRef>>,
    pub would_have_reasons: Option<Vec<String>>,
    pub latency_us: u64,
    /// 1 when the call counts against the agent's rate limit (0: denied by containment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_units: Option<u8>,
    /// The cost the call committed against the agent's daily cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent_usd: Option<f64>,
    /// The approval request a held, enforced call opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_expires_at: Option<String>,
    /// Why containment (a kill switch, a limit) denied the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub containment: Option<Value>,
    /// The front end the call came through, when not `POST /v1/decide`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<DecidedVia>,
}

/// SHA-256 of the RFC 8785 form of the arguments: the identity of "this exact call".
pub fn arguments_digest(arguments: &Value) -> Result<String> {
    gavel_ledger::jcs::check_exact_numbers(arguments, "arguments")
        .map_err(|e| CoreError::Invalid(e.to_string()))?;
    let bytes = gavel_ledger::jcs::to_vec(arguments).map_err(|e| CoreError::Invalid(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// Checks a tool name as decide accepts it: 1-256 printable ASCII characters without spaces.
/// The tool registry checks its names with it too, so no category is ever set on a name no call
/// can carry.
pub fn check_tool_name(tool: &str) -> Result<()> {
    if !tool.is_empty() && tool.len() <= 256 && tool.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(CoreError::Invalid("tool must be 1-256 printable ASCII characters without spaces".into()))
    }
}

/// Checks a decide request before anything is read or recorded, and returns its arguments as a
/// JSON object (`{}` when absent or null). Public so the fuzz targets can drive it alone.
pub fn check_request(req: &DecideRequest) -> Result<Value> {
    check_tool_name(&req.tool)?;
    if let Some(who) = &req.on_behalf_of {
        // The self-approval rule compares this with user names (ASCII, compared ignoring case):
        // anything that could look like a user's name without being it — other scripts' look-alike
        // letters, invisible or control characters, padding — is refused rather than recorded.
        let ok = !who.is_empty()
            && who.len() <= 128
            && who.trim() == who
            && who.chars().all(|c| c == ' ' || c.is_ascii_graphic());
        if !ok {
            return Err(CoreError::Invalid(
                "on_behalf_of must be 1-128 printable ASCII characters, without leading or trailing spaces"
                    .into(),
            ));
        }
    }
    if let Some(cost) = req.context.cost_usd {
        // The cost is recorded in the decision event, whose numbers must be exact (at most
        // 2^53 - 1, see `gavel_ledger::jcs`): a larger one would be accepted here and then fail
        // to be logged, an internal error instead of a refused request (found by fuzzing).
        if !cost.is_finite() || cost < 0.0 || cost > gavel_ledger::jcs::MAX_SAFE_INTEGER as f64 {
            return Err(CoreError::Invalid(format!(
                "context.cost_usd must be a non-negative number of at most {}",
                gavel_ledger::jcs::MAX_SAFE_INTEGER
            )));
        }
    }
    match &req.arguments {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(CoreError::Invalid("arguments must be a JSON object".into())),
    }
}

/// What the policy engine sees of a call by `agent`: the registered environment, never the
/// claimed one.
pub(crate) fn tool_call(
    agent: &crate::Agent,
    req: &DecideRequest,
    arguments: &Value,
    category: Option<String>,
    now: time::OffsetDateTime,
) -> ToolCall {
    ToolCall {
        agent_id: agent.id.clone(),
        owner: agent.owner.clone(),
        environment: agent.environment.clone(),
        tier: agent.tier.clone(),
        groups: agent.groups.clone(),
        tool: req.tool.clone(),
        tool_category: category,
        arguments: arguments.clone(),
        on_behalf_of: req.on_behalf_of.clone(),
        cost_usd: req.context.cost_usd,
        hour_utc: now.hour(),
    }
}

/// What a decision reads besides the agent.
pub(crate) struct DecisionInputs {
    /// The tool's category (`None`: uncategorised).
    pub category: Option<String>,
    /// The version of `meta/policy_epoch` (which engine to use).
    pub policy_epoch: u64,
    /// The version of `meta/identity_epoch` (whether a cached authentication still holds).
    pub identity_epoch: u64,
    /// The kill switches that could apply: global, this agent, this tool.
    pub switches: Vec<Option<gavel_store::docs::Doc>>,
}

impl Gavel {
    /// Reads a decision's inputs in one read transaction (one snapshot, one connection round).
    pub(crate) fn decision_inputs(&self, agent: &crate::Agent, tool: &str) -> Result<DecisionInputs> {
        let scopes = crate::containment::switch_scopes(agent, tool);
        let switch_keys: Vec<String> = scopes.iter().map(|s| s.key()).collect();
        let mut keys = vec![("tools", tool), ("meta", "policy_epoch"), ("meta", crate::IDENTITY_EPOCH)];
        keys.extend(switch_keys.iter().map(|k| ("killswitches", k.as_str())));
        let mut docs = self.store.get_docs(&keys)?;
        let switches = docs.split_off(3);
        Ok(DecisionInputs {
            category: docs[0].as_ref().and_then(|d| d.body["category"].as_str().map(str::to_string)),
            policy_epoch: docs[1].as_ref().map_or(0, |d| d.version),
            identity_epoch: docs[2].as_ref().map_or(0, |d| d.version),
            switches,
        })
    }

    /// Authenticates `token` and decides its tool call: the path agents take. Authentication
    /// is served from a cache whose entries are confirmed against the identity epoch in the
    /// same read transaction as the rest of the decision's reads, so a deactivation, rotation
    /// or limit change on any replica applies from the next call, without re-reading the token
    /// and the agent on every call.
    pub fn decide_with_token(&self, token: &str, req: DecideRequest) -> Result<DecideResponse> {
        self.submit_decision_with_token(token, req)?.blocking_committed()
    }

    /// [`Gavel::decide_with_token`] up to the append: authenticates, reads, evaluates and queues
    /// the decision for the log writer. The caller gets the answer from
    /// [`PendingDecision::committed`] once the decision is committed, without holding a thread
    /// while the writer works (the HTTP server's path).
    pub fn submit_decision_with_token(&self, token: &str, req: DecideRequest) -> Result<PendingDecision> {
        self.submit_decision_via(token, req, None)
    }

    /// [`Gavel::submit_decision_with_token`] for a call that came through another front end than
    /// `POST /v1/decide` (`via`, recorded in the decision). The same authentication, reads,
    /// rules and record: only `via` differs.
    pub fn submit_decision_via(
        &self,
        token: &str,
        req: DecideRequest,
        via: Option<DecidedVia>,
    ) -> Result<PendingDecision> {
        let (principal, epoch) = self.authenticate_cached(token)?;
        self.decide_as(&principal, req, Some((token, epoch)), via)
    }

    /// Decides one tool call for the calling agent and records the decision. `by` may have been
    /// authenticated long before (a session, a test): the agent is read again, so a suspension
    /// or deactivation since then applies to this very call.
    pub fn decide(&self, by: &Principal, req: DecideRequest) -> Result<DecideResponse> {
        let current = match by {
            Principal::Agent(agent) => Principal::Agent(self.agent(&agent.id)?),
            other => other.clone(),
        };
        self.decide_as(&current, req, None, None)?.blocking_committed()
    }

    /// `cached`: the token and the identity epoch `by` was authenticated at, when it came from
    /// the cache; a stale epoch re-authenticates before anything is decided.
    fn decide_as(
        &self,
        by: &Principal,
        req: DecideRequest,
        cached: Option<(&str, u64)>,
        via: Option<DecidedVia>,
    ) -> Result<PendingDecision> {
        let started = Instant::now();
        let Principal::Agent(agent) = by else {
            return Err(CoreError::Forbidden("only agents call decide; use an agent token".into()));
        };
        let arguments = check_request(&req)?;
        let digest = arguments_digest(&arguments)?;
        let now = self.clock.now();
        let DecisionInputs { category, policy_epoch: epoch, identity_epoch, switches } =
            self.decision_inputs(agent, &req.tool)?;
        if let Some((token, cached_epoch)) = cached {
            if cached_epoch != identity_epoch {
                // Someone changed identities since this entry was cached: read the credential
                // again. Whatever changes after the snapshot above has a newer epoch still.
                let fresh = self.authenticate(token)?;
                self.cache_authentication(crate::ids::token_hash(token), identity_epoch, &fresh);
                return self.decide_as(&fresh, req, None, via);
            }
        }

        let deny = |reason: String| Verdict {
            outcome: Outcome::Deny,
            policies: vec![],
            reasons: vec![reason],
            errors: vec![],
        };
        let breach = if agent.status == Status::Active {
            self.containment_breach(agent, &req.tool, req.context.cost_usd, now, &switches)?
        } else {
            None
        };
        let (verdict, enforced, would_have) = if agent.status != Status::Active {
            (deny(format!("agent {} is {}", agent.name, agent.status.as_str())), true, None)
        } else if let Some(breach) = &breach {
            (deny(breach.reason.clone()), true, None)
        } else {
            let engine = self.engine_at(epoch)?;
            let call = tool_call(agent, &req, &arguments, category.clone(), now);
            let evaluation = engine.evaluate(&call);
            match evaluation.enforced {
                Some(v) => (v, true, evaluation.would_have),
                None => {
                    let v = Verdict {
                        outcome: Outcome::Allow,
                        policies: vec![],
                        reasons: vec!["no enforcing policy: allowed in permissive mode, recorded".into()],
                        errors: vec![],
                    };
                    (v, false, evaluation.would_have)
                }
            }
        };

        let (redacted, redactions) = redact(&arguments);
        let decision_id = new_ordered_id("dec", self.clock().now());
        let latency_us = started.elapsed().as_micros() as u64;
        let mut record = DecisionRecord {
            decision_id: decision_id.clone(),
            agent_id: agent.id.clone(),
            agent_name: agent.name.clone(),
            agent_status: agent.status,
            on_behalf_of: req.on_behalf_of.clone(),
            tool: req.tool.clone(),
            tool_category: category,
            resource: req.resource.clone(),
            arguments: redacted,
            arguments_sha256: digest.clone(),
            redactions,
            environment: agent.environment.clone(),
            claimed_environment: req.context.environment.clone(),
            cost_usd: req.context.cost_usd,
            decision: verdict.outcome,
            enforced,
            policies: verdict.policies.clone(),
            reasons: verdict.reasons.clone(),
            errors: verdict.errors.clone(),
            would_have: would_have.as_ref().map(|v| v.outcome),
            would_have_policies: would_have.as_ref().map(|v| v.policies.clone()),
            would_have_reasons: would_have.as_ref().map(|v| v.reasons.clone()),
            latency_us,
            rate_units: Some(u8::from(breach.is_none())),
            spent_usd: Some(match verdict.outcome {
                Outcome::Allow | Outcome::RequireApproval => req.context.cost_usd.unwrap_or(0.0),
                Outcome::Deny => 0.0,
            }),
            approval_id: None,
            approval_expires_at: None,
            containment: None,
            via,
        };
        let mut ops = Vec::new();
        let mut approval_id = None;
        if enforced && verdict.outcome == Outcome::RequireApproval {
            let (approval, op) = self.approval_request(
                &decision_id,
                agent,
                &req,
                &record.arguments,
                &digest,
                &verdict.reasons,
            );
            record.approval_id = Some(approval.id.clone());
            record.approval_expires_at = Some(approval.expires_at);
            approval_id = Some(approval.id);
            ops.push(op);
        }
        if let Some(breach) = breach {
            record.containment = Some(breach.containment);
        }
        let data = json!(record);
        let doc = StateOp::put(
            "decisions",
            &decision_id,
            data.clone(),
            DocKeys {
                k1: Some(agent.id.clone()),
                k2: Some(req.tool.clone()),
                k3: Some(verdict.outcome.as_str().into()),
            },
            Expect::Absent,
        );
        ops.push(doc);
        let append = self.submit_record("decision", &by.actor(), data, ops)?;
        Ok(PendingDecision {
            agent_id: agent.id.clone(),
            response: DecideResponse {
                decision_id,
                decision: verdict.outcome,
                enforced,
                would_have: would_have.map(|v| v.outcome),
                policies: verdict.policies,
                reasons: verdict.reasons,
                approval_id,
                seq: 0,
            },
            append,
        })
    }
}

/// A decision queued for the log writer but not yet committed. Its answer is only available
/// through [`PendingDecision::committed`] or [`PendingDecision::blocking_committed`], which
/// return it once the `decision` event is committed and fail with [`CoreError::Unavailable`]
/// (or the store's error) otherwise: nothing is answered before its event is durable.
pub struct PendingDecision {
    agent_id: String,
    /// The answer, `seq` still unset.
    response: DecideResponse,
    append: crate::PendingAppend,
}

impl PendingDecision {
    /// The agent the decision is for (who the caller authenticated as).
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// Waits for the commit without holding a thread (async callers).
    pub async fn committed(self) -> Result<DecideResponse> {
        let appended = self.append.wait().await?;
        Ok(DecideResponse { seq: appended.seq, ..self.response })
    }

    /// Waits for the commit on this thread (synchronous callers only; never from an async task).
    pub fn blocking_committed(self) -> Result<DecideResponse> {
        let appended = self.append.blocking_wait()?;
        Ok(DecideResponse { seq: appended.seq, ..self.response })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> DecideRequest {
        serde_json::from_str(body).expect("parses")
    }

    fn record() -> DecisionRecord {
        DecisionRecord {
            decision_id: "dec_1".into(),
            agent_id: "agt_1".into(),
            agent_name: "bot".into(),
            agent_status: Status::Active,
            on_behalf_of: None,
            tool: "send_email".into(),
            tool_category: Some("email".into()),
            resource: None,
            arguments: json!({"to": "a@b.c", "password": "[REDACTED]"}),
            arguments_sha256: "ab".into(),
            redactions: vec![Redaction { path: "/password".into(), kind: "secret_key".into() }],
            environment: "production".into(),
            claimed_environment: None,
            cost_usd: Some(0.5),
            decision: Outcome::RequireApproval,
            enforced: true,
            policies: vec![PolicyRef { set_id: "team".into(), version: 2, policy_id: "hold".into() }],
            reasons: vec!["held".into()],
            errors: vec![],
            would_have: None,
            would_have_policies: None,
            would_have_reasons: None,
            latency_us: 12,
            rate_units: Some(1),
            spent_usd: Some(0.5),
            approval_id: Some("apr_1".into()),
            approval_expires_at: Some("2026-11-02T10:00:00.000000Z".into()),
            containment: None,
            via: None,
        }
    }

    /// The record is the `decision` event's data, whose bytes are hashed: it serializes to the
    /// members the event always had (absent options null, the later additions only when set,
    /// the containment counters under the names the limits sum).
    #[test]
    fn a_decision_record_serializes_as_the_event_data_always_did() {
        let expected = json!({
            "decision_id": "dec_1", "agent_id": "agt_1", "agent_name": "bot", "agent_status": "active",
            "on_behalf_of": null, "tool": "send_email", "tool_category": "email", "resource": null,
            "arguments": {"to": "a@b.c", "password": "[REDACTED]"}, "arguments_sha256": "ab",
            "redactions": [{"path": "/password", "kind": "secret_key"}], "environment": "production",
            "claimed_environment": null, "cost_usd": 0.5, "decision": "require_approval", "enforced": true,
            "policies": [{"set_id": "team", "version": 2, "policy_id": "hold"}], "reasons": ["held"],
            "errors": [], "would_have": null, "would_have_policies": null, "would_have_reasons": null,
            "latency_us": 12, crate::containment::RATE_UNITS: 1, crate::containment::SPENT_USD: 0.5,
            "approval_id": "apr_1", "approval_expires_at": "2026-11-02T10:00:00.000000Z",
        });
        assert_eq!(json!(record()), expected);
        let mut old = expected.clone();
        for later in ["rate_units", "spent_usd", "approval_id", "approval_expires_at"] {
            old.as_object_mut().unwrap().remove(later);
        }
        let read: DecisionRecord =
            serde_json::from_value(old.clone()).expect("a record from before them reads");
        assert_eq!(json!(read), old, "and reads back unchanged");
        let contained = DecisionRecord { containment: Some(json!({"kill_switch": "global"})), ..record() };
        assert_eq!(json!(contained)["containment"], json!({"kill_switch": "global"}));
        let proxied = DecisionRecord { via: Some(DecidedVia::ExtAuthz), ..record() };
        assert_eq!(json!(proxied)["via"], "ext_authz");
        let read: DecisionRecord = serde_json::from_value(json!(proxied)).expect("reads back");
        assert_eq!(read.via, Some(DecidedVia::ExtAuthz));
    }

    /// Found by the `decide` fuzz target: a huge finite cost passed the checks, then the decision
    /// event carrying it could not be logged (its numbers must be exact).
    #[test]
    fn a_cost_beyond_the_exact_range_is_refused_up_front() {
        let huge = request(r#"{"tool": "t", "context": {"cost_usd": 4444444444444444444444442.05}}"#);
        assert!(matches!(check_request(&huge), Err(CoreError::Invalid(m)) if m.contains("cost_usd")));
        let largest =
            format!(r#"{{"tool": "t", "context": {{"cost_usd": {}}}}}"#, gavel_ledger::jcs::MAX_SAFE_INTEGER);
        assert!(check_request(&request(&largest)).is_ok());
        let data = json!({ "cost_usd": request(&largest).context.cost_usd });
        gavel_ledger::event::EventDraft::new("decision", gavel_ledger::event::Actor::agent("a"), data)
            .expect("the largest accepted cost is storable");
    }
}
