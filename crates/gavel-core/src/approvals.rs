//! Human approval of held calls, execution outcomes, and the receipts that bind them.
//!
//! Invariants:
//! * a `require_approval` decision that is enforced opens exactly one approval request, written
//!   with the decision; it expires (default 1 h) and can be decided at most once — the decision
//!   is a compare-and-set on the request, so of two concurrent approvers exactly one wins;
//! * the requester — the agent's owner or the user the agent acts for — never approves their own
//!   request, and only users with the approver or admin role decide at all; owner and
//!   on-behalf-of names match a user's name or id ignoring ASCII case (decide accepts only
//!   printable ASCII on-behalf-of names, so no look-alike spelling gets past the check);
//! * an approval issues a single-use receipt bound to (agent, tool, SHA-256 of the canonical
//!   arguments). The agent presents it with the outcome; a reused receipt, or one that does not
//!   match the executed call, is refused and recorded as a bypass finding;
//! * an outcome that reports executing a denied call, or a held call without a valid receipt, is
//!   recorded *and* flagged as a bypass finding (the auditor's "denials were enforced" check);
//! * every step is a log event naming the decision it belongs to and that decision's seq;
//! * containment reaches approvals: deactivating or suspending an agent, or pulling a kill switch
//!   that covers it, voids its pending requests and its approved requests whose receipt was not
//!   redeemed, in the same event as the containment action (`voided_approvals` lists each); a
//!   voided receipt, or any receipt presented while its agent is contained, is refused and
//!   recorded as a bypass finding; a pending request of a contained agent cannot be approved;
//! * expiry is applied on read and recorded (`approval.expired`) when someone decides late; the
//!   receipt (`receipts/<sha256>`) is shown only to the requesting agent;
//! * bypass findings (`findings/<id>`) move `open` → `acknowledged` → `resolved`, each step with
//!   who, when and a note (`finding.acknowledged` / `finding.resolved`), by approvers and admins
//!   other than the owner of the agent concerned; a resolved finding is final and stays listed.

use crate::decide::arguments_digest;
use crate::error::{CoreError, Result};
use crate::identity::{Agent, Principal, Role};
use crate::ids::{new_id, token_hash};
use crate::{from_doc, Gavel};
use gavel_ledger::clock::format_time;
use gavel_policy::Outcome;
use gavel_store::docs::{DocKeys, DocQuery, Expect, StateOp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The state of an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for an approver (and not yet expired).
    Pending,
    Approved,
    Denied,
    /// Nobody decided in time.
    Expired,
    /// Voided by a containment action (suspension, deactivation, kill switch).
    Voided,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Voided => "voided",
        }
    }
}

/// A held call waiting for (or past) an approver's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    pub id: String,
    pub decision_id: String,
    pub agent_id: String,
    pub agent_name: String,
    pub owner: String,
    pub on_behalf_of: Option<String>,
    pub tool: String,
    pub resource: Option<String>,
    /// The call's arguments, secrets redacted.
    #[schema(value_type = Object)]
    pub arguments: Value,
    pub arguments_sha256: String,
    pub reasons: Vec<String>,
    pub status: ApprovalStatus,
    pub requested_at: String,
    pub expires_at: String,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<String>,
    pub comment: Option<String>,
    /// Why a containment action voided the request (and its receipt), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub voided: Option<Value>,
    /// The single-use receipt, shown only to the requesting agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// What an agent reported it did with a decided call, checked against the decision: the data of
/// the `outcome.recorded` event and of the `outcomes/<decision id>` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutcomeRecord {
    pub decision_id: String,
    /// The seq of the decision event.
    pub decision_seq: u64,
    pub agent_id: String,
    pub tool: String,
    /// What was decided.
    pub decision: Outcome,
    pub enforced: bool,
    /// succeeded | failed | not_executed
    pub status: String,
    pub detail: Option<String>,
    /// SHA-256 of the canonical arguments executed (the decided ones unless others were reported).
    pub executed_arguments_sha256: String,
    /// Whether an approval receipt was redeemed.
    pub receipt_used: bool,
    /// True when the call ran against the decision: a denial executed, a held call run without a
    /// valid receipt, or other arguments than decided.
    pub bypass: bool,
    /// What made it a bypass, in words.
    pub findings: Vec<String>,
    pub reported_at: String,
    /// The bypass finding opened, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding_id: Option<String>,
    /// Who observed the outcome (`gateway`, `agent`); absent when the reporter did not say
    /// (an agent's own report), so outcomes recorded before it existed read and hash the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_by: Option<ObservedBy>,
}

/// The answer to reporting an outcome: the record and the seq of its event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordedOutcome {
    #[serde(flatten)]
    pub record: OutcomeRecord,
    /// The seq of the `outcome.recorded` event.
    pub seq: u64,
}

/// What happened to a decided call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum), value(rename_all = "snake_case"))]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// The call was executed and worked.
    Succeeded,
    /// The call was executed and failed.
    Failed,
    /// The call was not executed (denied, not approved, or abandoned).
    NotExecuted,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::NotExecuted => "not_executed",
        }
    }
}

/// What an approver decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalVerdict {
    Approve,
    Deny,
}

/// By hand for its message: serde's own for two variants ("expected `approve` or `deny`") is not
/// the "must be approve or deny" the API has always answered.
impl<'de> Deserialize<'de> for ApprovalVerdict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "approve" => Ok(ApprovalVerdict::Approve),
            "deny" => Ok(ApprovalVerdict::Deny),
            other => Err(serde::de::Error::custom(format!("{other:?} must be approve or deny"))),
        }
    }
}

/// What an agent reports it did with a decided call (the body of
/// `POST /v1/decisions/{id}/outcome`). Serialize: the MCP gateway sends it as its agent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OutcomeBody)]
pub struct OutcomeRequest {
    pub status: ExecutionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The approval receipt, for a held call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// The arguments actually executed; their digest must match what was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub arguments: Option<Value>,
    /// Who saw the call run: `gateway` when gavel's MCP gateway forwarded it and watched the
    /// answer; absent (or `agent`) when the agent reports on its own word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_by: Option<ObservedBy>,
}

/// Who observed an outcome. The reporter states it with the agent's token (the gateway holds the
/// agent's token), so it tells observed from self-reported outcomes of a deployment where agents
/// reach their tools only through the gateway; it is not a separate credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObservedBy {
    /// The agent reported what it did.
    Agent,
    /// gavel's MCP gateway forwarded the call and saw the upstream's answer.
    Gateway,
}

fn approval_op(a: &Approval, expect: Expect) -> StateOp {
    StateOp::put(
        "approvals",
        &a.id,
        json!(a),
        DocKeys {
            k1: Some(a.status.as_str().into()),
            k2: Some(a.agent_id.clone()),
            k3: Some(a.decision_id.clone()),
        },
        expect,
    )
}

impl Gavel {
    /// The approval request a held decision opens (written with the decision event).
    pub(crate) fn approval_request(
        &self,
        decision_id: &str,
        agent: &Agent,
        req: &crate::decide::DecideRequest,
        redacted_arguments: &Value,
        digest: &str,
        reasons: &[String],
    ) -> (Approval, StateOp) {
        let now = self.clock.now();
        let approval = Approval {
            id: new_id("apr"),
            decision_id: decision_id.into(),
            agent_id: agent.id.clone(),
            agent_name: agent.name.clone(),
            owner: agent.owner.clone(),
            on_behalf_of: req.on_behalf_of.clone(),
            tool: req.tool.clone(),
            resource: req.resource.clone(),
            arguments: redacted_arguments.clone(),
            arguments_sha256: digest.into(),
            reasons: reasons.to_vec(),
            status: ApprovalStatus::Pending,
            requested_at: format_time(now),
            expires_at: format_time(now + self.settings.approval_expiry),
            decided_by: None,
            decided_by_name: None,
            decided_at: None,
            comment: None,
            voided: None,
            receipt: None,
        };
        let op = approval_op(&approval, Expect::Absent);
        (approval, op)
    }

    pub(crate) fn approval_versioned(&self, id: &str) -> Result<(Approval, u64)> {
        let doc = self
            .store
            .get_doc("approvals", id)?
            .ok_or_else(|| CoreError::NotFound(format!("no approval {id:?}")))?;
        let v = doc.version;
        Ok((from_doc(doc)?, v))
    }

    /// The approval as `by` may see it: expiry applied, the receipt only for the requesting agent.
    fn approval_view(&self, by: &Principal, mut a: Approval) -> Result<Approval> {
        match by {
            Principal::Agent(agent) if agent.id == a.agent_id => {}
            Principal::Agent(_) => return Err(CoreError::NotFound(format!("no approval {:?}", a.id))),
            Principal::User(_) | Principal::Operator(_) => {
                by.require_reader()?;
                a.receipt = None;
            }
        }
        if a.status == ApprovalStatus::Pending && self.now() > a.expires_at {
            a.status = ApprovalStatus::Expired;
        }
        Ok(a)
    }

    pub fn approval(&self, by: &Principal, id: &str) -> Result<Approval> {
        let (a, _) = self.approval_versioned(id)?;
        self.approval_view(by, a)
    }

    /// Approval requests, newest first. Agents see only their own.
    pub fn approvals(
        &self,
        by: &Principal,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> Result<Vec<Approval>> {
        let limit = limit.clamp(1, 1000) as usize;
        // Expiry is applied on read, so a request past its deadline is still stored as pending:
        // "pending" must leave it out and "expired" must take it in. Read stored pages until
        // `limit` requests with the asked-for effective status are found.
        let stored: &[Option<&str>] = match status {
            None => &[None],
            Some(ApprovalStatus::Pending) => &[Some("pending")],
            Some(ApprovalStatus::Expired) => &[Some("pending"), Some("expired")],
            Some(ApprovalStatus::Approved) => &[Some("approved")],
            Some(ApprovalStatus::Denied) => &[Some("denied")],
            Some(ApprovalStatus::Voided) => &[Some("voided")],
        };
        let mut out = Vec::new();
        for k1 in stored {
            let mut q = DocQuery::new("approvals", 200);
            q.k1 = k1.map(str::to_string);
            if let Principal::Agent(a) = by {
                q.k2 = Some(a.id.clone());
            }
            loop {
                let page = self.store.query_docs(&q)?;
                let Some(last) = page.last() else { break };
                q.before_seq = Some(last.seq);
                for doc in page {
                    let view = self.approval_view(by, from_doc(doc)?)?;
                    if status.is_none_or(|s| s == view.status) {
                        out.push(view);
                    }
                }
                if out.len() >= limit {
                    break;
                }
            }
        }
        out.sort_by(|a, b| b.requested_at.cmp(&a.requested_at));
        out.truncate(limit);
        Ok(out)
    }

    /// Approves or denies a held call. Exactly once; never by the requester; never once expired.
    pub fn decide_approval(
        &self,
        by: &Principal,
        id: &str,
        approve: bool,
        comment: Option<&str>,
    ) -> Result<Approval> {
        let user = by.require_user(&[Role::Approver, Role::Admin])?;
        let (mut a, version) = self.approval_versioned(id)?;
        if a.status != ApprovalStatus::Pending {
            return Err(CoreError::Conflict(format!("approval {id} was already {}", a.status.as_str())));
        }
        // Names are compared ignoring ASCII case: `APPR` and `appr` are one person here, so a
        // change of case cannot get someone past the two-person rule.
        let requester =
            |who: &str| who.eq_ignore_ascii_case(&user.name) || who.eq_ignore_ascii_case(&user.id);
        if requester(&a.owner) || a.on_behalf_of.as_deref().is_some_and(requester) {
            return Err(CoreError::Forbidden(format!(
                "{} requested this call (agent owner or on-behalf-of user) and cannot approve it; another approver must",
                user.name
            )));
        }
        if approve {
            if let Some(why) = self.contained(&a.agent_id, &a.tool)? {
                return Err(CoreError::Conflict(format!(
                    "approval {id} cannot be granted: {why}; release the containment and have the agent ask again"
                )));
            }
        }
        let decision_seq = self.store.get_doc("decisions", &a.decision_id)?.map(|d| d.seq);
        let now = self.now();
        if now > a.expires_at {
            a.status = ApprovalStatus::Expired;
            // Record the expiry once; a concurrent recorder makes this a no-op conflict.
            let expired = crate::typed(&gavel_events::ApprovalExpired {
                approval_id: a.id.clone(),
                decision_id: a.decision_id.clone(),
                decision_seq,
                expires_at: a.expires_at.clone(),
                attempted_by: user.name.clone(),
                other: Default::default(),
            })?;
            let _ = self.record(
                gavel_events::kind::APPROVAL_EXPIRED,
                &by.actor(),
                expired,
                vec![approval_op(&a, Expect::Version(version))],
            );
            return Err(CoreError::Gone(format!(
                "approval {id} expired at {}; the agent must ask again",
                a.expires_at
            )));
        }
        a.status = if approve { ApprovalStatus::Approved } else { ApprovalStatus::Denied };
        a.decided_by = Some(user.id.clone());
        a.decided_by_name = Some(user.name.clone());
        a.decided_at = Some(now);
        a.comment = comment.map(str::to_string);
        let mut ops = Vec::new();
        if approve {
            let receipt = format!("rcpt_{}", &crate::ids::new_token()[4..]);
            ops.push(StateOp::put(
                "receipts",
                &token_hash(&receipt),
                json!({"approval_id": a.id, "decision_id": a.decision_id, "agent_id": a.agent_id,
                       "tool": a.tool, "arguments_sha256": a.arguments_sha256, "used": false}),
                DocKeys { k1: Some(a.decision_id.clone()), ..Default::default() },
                Expect::Absent,
            ));
            a.receipt = Some(receipt);
        }
        ops.push(approval_op(&a, Expect::Version(version)));
        let decided = gavel_events::ApprovalDecided {
            approval_id: a.id.clone(),
            decision_id: a.decision_id.clone(),
            decision_seq,
            agent_id: a.agent_id.clone(),
            tool: a.tool.clone(),
            arguments_sha256: a.arguments_sha256.clone(),
            decision: a.status.as_str().into(),
            approver: user.id.clone(),
            approver_name: user.name.clone(),
            comment: comment.map(str::to_string),
            ..Default::default()
        };
        self.record(gavel_events::kind::APPROVAL_DECIDED, &by.actor(), crate::typed(&decided)?, ops)
            .map_err(|e| match e {
                CoreError::Conflict(_) => {
                    CoreError::Conflict(format!("approval {id} was decided concurrently by someone else"))
                }
                e => e,
            })?;
        a.receipt = None;
        Ok(a)
    }

    /// Records the execution outcome of a decision, checking it against what was decided.
    pub fn record_outcome(
        &self,
        by: &Principal,
        decision_id: &str,
        req: OutcomeRequest,
    ) -> Result<RecordedOutcome> {
        let Principal::Agent(agent) = by else {
            return Err(CoreError::Forbidden("only the agent that made the call reports its outcome".into()));
        };
        let executed = req.status != ExecutionStatus::NotExecuted;
        let decision_doc = self
            .store
            .get_doc("decisions", decision_id)?
            .filter(|d| d.keys.k1.as_deref() == Some(agent.id.as_str()))
            .ok_or_else(|| CoreError::NotFound(format!("no decision {decision_id:?} of this agent")))?;
        if self.store.get_doc("outcomes", decision_id)?.is_some() {
            return Err(CoreError::Conflict(format!("the outcome of {decision_id} was already recorded")));
        }
        let decision = &decision_doc.body;
        let outcome = decision["decision"].as_str().unwrap_or("deny");
        let enforced = decision["enforced"].as_bool().unwrap_or(true);
        let decided_digest = decision["arguments_sha256"].as_str().unwrap_or_default().to_string();
        let executed_digest = match &req.arguments {
            Some(args) => arguments_digest(args)?,
            None => decided_digest.clone(),
        };

        let mut findings: Vec<String> = Vec::new();
        let mut ops = Vec::new();
        if executed && enforced && outcome == "deny" {
            findings.push("executed a call that was denied".into());
        }
        if executed && executed_digest != decided_digest {
            findings.push("the executed arguments differ from the decided ones".into());
        }
        if executed && enforced && outcome == "require_approval" {
            match req.receipt.as_deref() {
                None => findings.push("executed a held call without an approval receipt".into()),
                Some(receipt) => {
                    let hash = token_hash(receipt);
                    let contained =
                        self.contained(&agent.id, decision["tool"].as_str().unwrap_or_default())?;
                    let refusal = match self.store.get_doc("receipts", &hash)? {
                        None => Some("the receipt is unknown".to_string()),
                        Some(r) if r.body["used"] == json!(true) => {
                            Some("the receipt was already used".to_string())
                        }
                        Some(r) if r.body.get("voided").is_some_and(|v| !v.is_null()) => Some(format!(
                            "the receipt was voided ({})",
                            r.body["voided"]["reason"].as_str().unwrap_or("containment")
                        )),
                        Some(_) if contained.is_some() => Some(format!(
                            "the receipt cannot be redeemed: {}",
                            contained.as_deref().unwrap_or("")
                        )),
                        Some(r)
                            if r.body["decision_id"] != json!(decision_id)
                                || r.body["agent_id"] != json!(agent.id)
                                || r.body["tool"] != decision["tool"]
                                || r.body["arguments_sha256"] != json!(executed_digest) =>
                        {
                            Some(
                                "the receipt does not match the executed call (agent, tool or arguments)"
                                    .to_string(),
                            )
                        }
                        Some(r) => {
                            let mut body = r.body.clone();
                            body["used"] = json!(true);
                            body["used_at"] = json!(self.now());
                            ops.push(StateOp::put(
                                "receipts",
                                &hash,
                                body,
                                r.keys.clone(),
                                Expect::Version(r.version),
                            ));
                            None
                        }
                    };
                    if let Some(why) = refusal {
                        let appended =
                            self.bypass_finding(by, agent, decision_id, decision_doc.seq, &why, &req)?;
                        return Err(CoreError::Forbidden(format!(
                            "receipt refused: {why}; recorded as a bypass finding (seq {})",
                            appended
                        )));
                    }
                }
            }
        }
        let bypass = !findings.is_empty();
        let finding = bypass.then(|| self.finding_op(agent, decision_id, &findings.join("; ")));
        let outcome = match outcome {
            "allow" => Outcome::Allow,
            "require_approval" => Outcome::RequireApproval,
            _ => Outcome::Deny,
        };
        let record = OutcomeRecord {
            decision_id: decision_id.to_string(),
            decision_seq: decision_doc.seq,
            agent_id: agent.id.clone(),
            tool: decision["tool"].as_str().unwrap_or_default().to_string(),
            decision: outcome,
            enforced,
            status: req.status.as_str().into(),
            detail: req.detail.clone(),
            executed_arguments_sha256: executed_digest,
            receipt_used: req.receipt.is_some() && ops.len() == 1,
            bypass,
            findings,
            reported_at: self.now(),
            finding_id: finding.as_ref().map(|(id, _)| id.clone()),
            observed_by: req.observed_by,
        };
        let data = json!(record);
        ops.push(StateOp::put(
            "outcomes",
            decision_id,
            data.clone(),
            DocKeys {
                k1: Some(agent.id.clone()),
                k2: Some(req.status.as_str().into()),
                k3: Some(bypass.to_string()),
            },
            Expect::Absent,
        ));
        if let Some((_, op)) = finding {
            ops.push(op);
        }
        let appended = self.record("outcome.recorded", &by.actor(), data, ops)?;
        Ok(RecordedOutcome { record, seq: appended.seq })
    }

    /// Why calls of `agent_id` to `tool` are contained right now (the agent is not active, or a
    /// kill switch covering them is engaged), if they are.
    pub(crate) fn contained(&self, agent_id: &str, tool: &str) -> Result<Option<String>> {
        let agent: Agent = match self.store.get_doc("agents", agent_id)? {
            Some(doc) => from_doc(doc)?,
            None => return Ok(Some(format!("agent {agent_id} no longer exists"))),
        };
        if agent.status != crate::identity::Status::Active {
            return Ok(Some(format!("agent {} is {}", agent.name, agent.status.as_str())));
        }
        for scope in crate::containment::switch_scopes(&agent, tool) {
            if let Some(doc) = self.store.get_doc("killswitches", &scope.key())? {
                if doc.body["engaged"] == json!(true) {
                    return Ok(Some(format!("kill switch {} is engaged", scope.key())));
                }
            }
        }
        Ok(None)
    }

    /// The state changes that void every outstanding approval a containment action covers:
    /// pending requests, and approved requests whose receipt was not redeemed (the receipt is
    /// voided with them). `agent_id` / `tool` narrow the scope (`None`: every agent / tool).
    /// Returns the ops, to commit with the containment event, and what was voided, for its data.
    pub(crate) fn void_approvals_ops(
        &self,
        agent_id: Option<&str>,
        tool: Option<&str>,
        reason: &str,
    ) -> Result<(Vec<StateOp>, Vec<Value>)> {
        let voided_by = json!({"reason": reason, "at": self.now()});
        let (mut ops, mut voided) = (Vec::new(), Vec::new());
        for status in ["pending", "approved"] {
            let mut q = DocQuery::new("approvals", 500);
            q.k1 = Some(status.into());
            q.k2 = agent_id.map(str::to_string);
            loop {
                let page = self.store.query_docs(&q)?;
                let Some(last) = page.last() else { break };
                q.before_seq = Some(last.seq);
                for doc in page {
                    let version = doc.version;
                    let mut a: Approval = from_doc(doc)?;
                    let lapsed = a.status == ApprovalStatus::Pending && self.now() > a.expires_at;
                    if lapsed || tool.is_some_and(|t| t != a.tool) {
                        continue;
                    }
                    if a.status == ApprovalStatus::Approved {
                        let mut rq = DocQuery::new("receipts", 1);
                        rq.k1 = Some(a.decision_id.clone());
                        let Some(receipt) = self.store.query_docs(&rq)?.pop() else { continue };
                        if receipt.body["used"] == json!(true) {
                            continue;
                        }
                        let mut body = receipt.body.clone();
                        body["voided"] = voided_by.clone();
                        ops.push(StateOp::put(
                            "receipts",
                            &receipt.id,
                            body,
                            receipt.keys.clone(),
                            Expect::Version(receipt.version),
                        ));
                    }
                    let was = a.status;
                    a.status = ApprovalStatus::Voided;
                    a.voided = Some(voided_by.clone());
                    a.receipt = None;
                    ops.push(approval_op(&a, Expect::Version(version)));
                    voided.push(
                        json!({"approval_id": a.id, "decision_id": a.decision_id, "agent_id": a.agent_id,
                                        "tool": a.tool, "was": was}),
                    );
                }
            }
        }
        Ok((ops, voided))
    }

    /// A new bypass finding's id and the write that stores it; the event that raises the
    /// finding carries the id, so evidence can follow it to its resolution.
    fn finding_op(&self, agent: &Agent, decision_id: &str, detail: &str) -> (String, StateOp) {
        let id = new_id("fnd");
        let op = StateOp::put(
            "findings",
            &id,
            json!({"kind": "bypass", "agent_id": agent.id, "agent_name": agent.name, "decision_id": decision_id,
                   "detail": detail, "time": self.now()}),
            DocKeys { k1: Some("bypass".into()), k2: Some(agent.id.clone()), k3: Some(decision_id.into()) },
            Expect::Absent,
        );
        (id, op)
    }

    fn bypass_finding(
        &self,
        by: &Principal,
        agent: &Agent,
        decision_id: &str,
        decision_seq: u64,
        why: &str,
        req: &OutcomeRequest,
    ) -> Result<u64> {
        let (finding_id, op) = self.finding_op(agent, decision_id, why);
        let finding = gavel_events::FindingBypass {
            decision_id: decision_id.into(),
            decision_seq,
            agent_id: agent.id.clone(),
            detail: why.into(),
            reported_status: req.status.as_str().into(),
            finding_id: Some(finding_id),
            ..Default::default()
        };
        let appended =
            self.record(gavel_events::kind::FINDING_BYPASS, &by.actor(), crate::typed(&finding)?, vec![op])?;
        Ok(appended.seq)
    }

    /// Bypass findings, newest first (for the compliance scan and incidents). Each has a
    /// `status`: `open` (also every finding recorded before statuses existed), `acknowledged`
    /// or `resolved`, with who, when and the note of each step.
    pub fn findings(&self, by: &Principal, limit: u32) -> Result<Vec<FindingView>> {
        by.require_reader()?;
        self.store
            .query_docs(&DocQuery::new("findings", limit.clamp(1, 1000)))?
            .into_iter()
            .map(|d| {
                let (id, seq) = (d.id.clone(), d.seq);
                Ok(FindingView { id, finding: from_doc(d)?, seq })
            })
            .collect()
    }

    /// Moves a bypass finding on: `acknowledged` (someone is looking into it) or `resolved`, with
    /// a note. Approvers and admins only, never the agent's owner (whose agent the finding is
    /// about); a resolved finding is final. The step is a `finding.acknowledged` or
    /// `finding.resolved` event, so evidence shows each finding with its resolution.
    pub fn update_finding(&self, by: &Principal, id: &str, resolve: bool, note: &str) -> Result<FindingView> {
        let user = by.require_user(&[Role::Approver, Role::Admin])?;
        if note.trim().is_empty() {
            return Err(CoreError::Invalid("say what was found or done (note)".into()));
        }
        let doc = self
            .store
            .get_doc("findings", id)?
            .ok_or_else(|| CoreError::NotFound(format!("no finding {id:?}")))?;
        let (keys, version) = (doc.keys.clone(), doc.version);
        let mut finding: BypassFinding = from_doc(doc)?;
        let status = finding.status;
        let next = if resolve { FindingStatus::Resolved } else { FindingStatus::Acknowledged };
        if status == FindingStatus::Resolved || status == next {
            return Err(CoreError::Conflict(format!("finding {id} is already {}", status.as_str())));
        }
        let agent_id = finding.agent_id.clone();
        if let Some(agent) = self.store.get_doc("agents", &agent_id)? {
            let owner = agent.body["owner"].as_str().unwrap_or_default();
            if owner.eq_ignore_ascii_case(&user.name) || owner.eq_ignore_ascii_case(&user.id) {
                return Err(CoreError::Forbidden(format!(
                    "{} owns the agent this finding is about and cannot {} it; someone else must",
                    user.name,
                    if resolve { "resolve" } else { "acknowledge" }
                )));
            }
        }
        let (who, at, said) = (Some(user.name.clone()), Some(self.now()), Some(note.to_string()));
        finding.status = next;
        if resolve {
            (finding.resolved_by, finding.resolved_at, finding.resolved_note) = (who, at, said);
        } else {
            (finding.acknowledged_by, finding.acknowledged_at, finding.acknowledged_note) = (who, at, said);
        }
        let step = gavel_events::FindingStep {
            finding_id: id.into(),
            decision_id: json!(finding.decision_id),
            agent_id,
            previous_status: status.as_str().into(),
            by: user.name.clone(),
            note: note.into(),
            other: Default::default(),
        };
        let kind = if resolve {
            gavel_events::kind::FINDING_RESOLVED
        } else {
            gavel_events::kind::FINDING_ACKNOWLEDGED
        };
        let appended = self.record(
            kind,
            &by.actor(),
            crate::typed(&step)?,
            vec![StateOp::put("findings", id, json!(finding), keys, Expect::Version(version))],
        )?;
        Ok(FindingView { id: id.to_string(), finding, seq: appended.seq })
    }
}

/// Where a bypass finding is: `open` until someone acknowledges it, then `resolved` (final).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    #[default]
    Open,
    Acknowledged,
    Resolved,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "open",
            FindingStatus::Acknowledged => "acknowledged",
            FindingStatus::Resolved => "resolved",
        }
    }
}

/// A bypass finding as stored in `findings/<id>`: a call run against its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BypassFinding {
    /// Always `bypass`.
    pub kind: String,
    pub agent_id: String,
    pub agent_name: String,
    pub decision_id: String,
    /// What made the call a bypass.
    pub detail: String,
    /// When it was found.
    pub time: String,
    /// `open` also for every finding recorded before statuses existed (no status stored).
    #[serde(default, deserialize_with = "open_when_null")]
    pub status: FindingStatus,
    /// Who acknowledged it (user name), when, and what they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_note: Option<String>,
    /// Who resolved it (user name), when, and what they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_note: Option<String>,
}

/// A missing or null status is `open` (findings recorded before statuses existed).
fn open_when_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<FindingStatus, D::Error> {
    Ok(Option::<FindingStatus>::deserialize(d)?.unwrap_or_default())
}

/// A bypass finding with its id and the seq of the event that last changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FindingView {
    pub id: String,
    #[serde(flatten)]
    pub finding: BypassFinding,
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finding stored before statuses existed (no `status`, or null) reads as open, and a
    /// step writes the members the JSON body always got (`<step>_by`, `_at`, `_note`).
    #[test]
    fn findings_read_back_from_every_stored_shape() {
        let stored = json!({"kind": "bypass", "agent_id": "agt_1", "agent_name": "bot",
                            "decision_id": "dec_1", "detail": "executed a call that was denied",
                            "time": "2026-11-02T09:00:00.000000Z"});
        let old: BypassFinding = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(old.status, FindingStatus::Open);
        let mut null = stored.clone();
        null["status"] = Value::Null;
        assert_eq!(serde_json::from_value::<BypassFinding>(null).unwrap().status, FindingStatus::Open);
        let acknowledged = BypassFinding {
            status: FindingStatus::Acknowledged,
            acknowledged_by: Some("carol".into()),
            acknowledged_at: Some("2026-11-02T10:00:00.000000Z".into()),
            acknowledged_note: Some("looking".into()),
            ..old
        };
        let mut expected = stored;
        expected["status"] = json!("acknowledged");
        expected["acknowledged_by"] = json!("carol");
        expected["acknowledged_at"] = json!("2026-11-02T10:00:00.000000Z");
        expected["acknowledged_note"] = json!("looking");
        assert_eq!(json!(acknowledged), expected);
    }

    /// The record is the `outcome.recorded` event's data, whose bytes are hashed: it serializes to
    /// the same members it did when it was built with `json!` (`detail` null when absent,
    /// `finding_id` only when a finding was opened).
    #[test]
    fn an_outcome_record_serializes_as_the_event_data_always_did() {
        let record = OutcomeRecord {
            decision_id: "dec_1".into(),
            decision_seq: 4,
            agent_id: "agt_1".into(),
            tool: "send_email".into(),
            decision: Outcome::RequireApproval,
            enforced: true,
            status: "succeeded".into(),
            detail: None,
            executed_arguments_sha256: "ab".into(),
            receipt_used: true,
            bypass: false,
            findings: vec![],
            reported_at: "2026-11-02T09:00:00.000000Z".into(),
            finding_id: None,
            observed_by: None,
        };
        let expected = json!({
            "decision_id": "dec_1", "decision_seq": 4, "agent_id": "agt_1", "tool": "send_email",
            "decision": "require_approval", "enforced": true, "status": "succeeded", "detail": null,
            "executed_arguments_sha256": "ab", "receipt_used": true, "bypass": false, "findings": [],
            "reported_at": "2026-11-02T09:00:00.000000Z",
        });
        assert_eq!(json!(record), expected);
        let with_finding = OutcomeRecord { finding_id: Some("fnd_1".into()), bypass: true, ..record.clone() };
        assert_eq!(json!(with_finding)["finding_id"], "fnd_1");
        let observed = OutcomeRecord { observed_by: Some(ObservedBy::Gateway), ..record.clone() };
        assert_eq!(json!(observed)["observed_by"], "gateway");
        let answer = json!(RecordedOutcome { record, seq: 5 });
        let mut flat = expected;
        flat["seq"] = json!(5);
        assert_eq!(answer, flat);
    }
}
