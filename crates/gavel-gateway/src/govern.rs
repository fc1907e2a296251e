//! One `tools/call` under gavel: read it, have it decided, hold it while a human decides, and
//! describe what the upstream then did for the outcome record.
//!
//! Invariants:
//! * [`decide_call`] answers `Forward` only for an `allow` decision or an approved hold (with its
//!   receipt); any failure to get a decision is a refusal (fail closed);
//! * a call that is not forwarded is reported `not_executed`, observed by the gateway;
//! * an [`Observation`] carries the upstream's status, the duration and the SHA-256 of its answer,
//!   never the answer (an upstream's JSON-RPC error keeps its code and a bounded message).

use crate::api::{ApiError, GavelClient};
use crate::jsonrpc;
use gavel_core::approvals::{ApprovalStatus, ExecutionStatus, ObservedBy, OutcomeRequest};
use gavel_core::decide::{DecideContext, DecideRequest, DecideResponse};
use gavel_policy::Outcome;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long one approval long-poll waits before the gateway sends another progress notification.
const APPROVAL_POLL_SECS: u64 = 15;

/// The most of an upstream's error message kept in the record.
const MAX_ERROR_CHARS: usize = 200;

/// A `tools/call` request, read.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub id: Value,
    pub name: String,
    /// The arguments object; `None` when the call has none.
    pub arguments: Option<Value>,
    /// `params._meta.progressToken`, when the client wants progress.
    pub progress_token: Option<Value>,
    /// Made at a per-request revision (`params._meta` names one): answers carry `resultType`.
    pub per_request: bool,
}

impl ToolCall {
    /// Reads a `tools/call` request, or the JSON-RPC error to answer when its params are not a
    /// tool call (a name string, arguments an object if present).
    pub fn read(request: &Value) -> Result<ToolCall, Value> {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let params = request.get("params");
        let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
            return Err(jsonrpc::error(
                &id,
                jsonrpc::INVALID_PARAMS,
                "tools/call needs params.name (a string)",
            ));
        };
        let arguments = match params.and_then(|p| p.get("arguments")) {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => {
                return Err(jsonrpc::error(
                    &id,
                    jsonrpc::INVALID_PARAMS,
                    "tools/call params.arguments must be an object",
                ))
            }
        };
        let meta = params.and_then(|p| p.get("_meta"));
        let progress_token = meta.and_then(|m| m.get("progressToken")).cloned();
        let per_request = meta.and_then(|m| m.get(crate::protocol::PER_REQUEST_KEY)).is_some();
        Ok(ToolCall { id, name: name.to_string(), arguments, progress_token, per_request })
    }

    /// The tool error answering this call with `text`.
    pub fn refusal(&self, text: &str) -> Value {
        jsonrpc::tool_error(&self.id, text, self.per_request)
    }
}

/// What to do with a call once gavel has spoken.
#[derive(Debug)]
pub enum Verdict {
    /// Send it to the upstream; report its outcome against `decision_id` (with the receipt of its
    /// approval, for a held call).
    Forward { decision_id: String, receipt: Option<String> },
    /// Answer the client with this (a tool error); the upstream never sees the call.
    Refuse(Value),
    /// The client cancelled the call while it was held: no answer (the spec says a cancelled
    /// request is not answered), nothing forwarded.
    Abandon,
}

/// Decides `call` as the agent. `notify` sends a notification to the client (progress while
/// held); `cancelled` says whether the client has cancelled the call meanwhile.
pub fn decide_call(
    client: &GavelClient,
    call: &ToolCall,
    notify: &dyn Fn(Value),
    cancelled: &dyn Fn() -> bool,
) -> Verdict {
    let request = DecideRequest {
        tool: call.name.clone(),
        resource: None,
        arguments: call.arguments.clone(),
        on_behalf_of: None,
        context: DecideContext::default(),
    };
    let decision = match client.decide(&request) {
        Ok(decision) => decision,
        Err(e) => return Verdict::Refuse(call.refusal(&no_decision(&call.name, &e))),
    };
    match decision.decision {
        Outcome::Allow => Verdict::Forward { decision_id: decision.decision_id, receipt: None },
        Outcome::Deny => {
            report_not_executed(client, &decision.decision_id, "denied by gavel; not forwarded");
            Verdict::Refuse(call.refusal(&denied_text(&call.name, &decision)))
        }
        Outcome::RequireApproval => hold(client, call, &decision, notify, cancelled),
    }
}

/// Waits for the approval of a held call, telling the client it is waiting.
fn hold(
    client: &GavelClient,
    call: &ToolCall,
    decision: &DecideResponse,
    notify: &dyn Fn(Value),
    cancelled: &dyn Fn() -> bool,
) -> Verdict {
    let Some(approval_id) = decision.approval_id.as_deref() else {
        // Held but nothing to wait on (an observe-mode hold is answered `allow`): refuse.
        return Verdict::Refuse(call.refusal(&format!(
            "gavel held this call to {} but opened no approval request; refused",
            call.name
        )));
    };
    let mut polls: u64 = 0;
    loop {
        if cancelled() {
            report_not_executed(client, &decision.decision_id, "held; cancelled by the MCP client");
            return Verdict::Abandon;
        }
        if let Some(token) = &call.progress_token {
            notify(jsonrpc::progress(
                token,
                polls,
                &format!("gavel: waiting for a human to approve {} (approval {approval_id})", call.name),
            ));
        }
        polls += 1;
        let approval = match client.approval(approval_id, APPROVAL_POLL_SECS) {
            Ok(approval) => approval,
            Err(e) => {
                return Verdict::Refuse(call.refusal(&format!(
                    "gavel held this call to {} for approval {approval_id} and its state cannot be \
                         read ({e}); refused",
                    call.name
                )))
            }
        };
        match approval.status {
            ApprovalStatus::Pending => continue,
            ApprovalStatus::Approved => {
                if cancelled() {
                    report_not_executed(
                        client,
                        &decision.decision_id,
                        "approved; cancelled by the MCP client",
                    );
                    return Verdict::Abandon;
                }
                let Some(receipt) = approval.receipt else {
                    return Verdict::Refuse(call.refusal(&format!(
                        "approval {approval_id} was granted but gavel gave no receipt; refused"
                    )));
                };
                return Verdict::Forward {
                    decision_id: decision.decision_id.clone(),
                    receipt: Some(receipt),
                };
            }
            status @ (ApprovalStatus::Denied | ApprovalStatus::Expired | ApprovalStatus::Voided) => {
                let status = status.as_str();
                report_not_executed(client, &decision.decision_id, &format!("held; approval {status}"));
                let by = approval.decided_by_name.map(|n| format!(" by {n}")).unwrap_or_default();
                let comment = approval.comment.map(|c| format!(": {c}")).unwrap_or_default();
                return Verdict::Refuse(call.refusal(&format!(
                    "gavel held this call to {} for approval and it was {status}{by}{comment} \
                         (approval {approval_id}, decision {}); not executed",
                    call.name, decision.decision_id
                )));
            }
        }
    }
}

fn no_decision(tool: &str, e: &ApiError) -> String {
    let why = match e {
        ApiError::Refused { status: 503, .. } => format!("{e}: gavel could not record the decision"),
        _ => e.to_string(),
    };
    format!("gavel could not decide this call to {tool} ({why}); refused: no decision, no call")
}

/// The text of a denial: which policies decided and why, and the decision to look up.
fn denied_text(tool: &str, decision: &DecideResponse) -> String {
    let policies = if decision.policies.is_empty() {
        "no permitting policy".to_string()
    } else {
        decision.policies.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    };
    let reasons = if decision.reasons.is_empty() { "-".to_string() } else { decision.reasons.join("; ") };
    format!(
        "gavel denied this call to {tool}. Policy: {policies}. Reason: {reasons}. (decision {})",
        decision.decision_id
    )
}

/// What the gateway saw of a forwarded call.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub status: ExecutionStatus,
    /// `observed by the gateway: <what> in <ms> ms; answer sha256 <hex>`.
    pub detail: String,
}

/// Describes the upstream's answer (`None`: none came within `timeout`) after `elapsed`.
pub fn observe(answer: Option<&Value>, elapsed: Duration, timeout: Duration) -> Observation {
    let ms = elapsed.as_millis();
    let Some(answer) = answer else {
        return Observation {
            status: ExecutionStatus::Failed,
            detail: format!(
                "observed by the gateway: timed out: no answer from the upstream within {} ms",
                timeout.as_millis()
            ),
        };
    };
    let (status, what, digested) = if let Some(error) = answer.get("error") {
        let code = error.get("code").map(ToString::to_string).unwrap_or_default();
        let message: String = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(MAX_ERROR_CHARS)
            .collect();
        (ExecutionStatus::Failed, format!("failed with upstream error {code}: {message}"), error)
    } else {
        let result = answer.get("result").unwrap_or(&Value::Null);
        if result.get("isError") == Some(&Value::Bool(true)) {
            (ExecutionStatus::Failed, "failed: the tool answered isError".to_string(), result)
        } else {
            (ExecutionStatus::Succeeded, "succeeded".to_string(), result)
        }
    };
    Observation {
        status,
        detail: format!(
            "observed by the gateway: {what} in {ms} ms; answer sha256 {}",
            answer_digest(digested)
        ),
    }
}

/// SHA-256 of the RFC 8785 form of the upstream's `result` (or `error`), as gavel digests
/// arguments; an answer with a number RFC 8785 cannot hold exactly is digested as serde_json
/// writes it.
pub fn answer_digest(answer: &Value) -> String {
    gavel_core::decide::arguments_digest(answer)
        .unwrap_or_else(|_| hex::encode(Sha256::digest(serde_json::to_vec(answer).unwrap_or_default())))
}

/// Reports a forwarded call's outcome; a failure to report is logged (the call already ran).
pub fn report(client: &GavelClient, decision_id: &str, observation: Observation, receipt: Option<String>) {
    let outcome = OutcomeRequest {
        status: observation.status,
        detail: Some(observation.detail),
        receipt,
        arguments: None,
        observed_by: Some(ObservedBy::Gateway),
    };
    send_report(client, decision_id, &outcome);
}

fn report_not_executed(client: &GavelClient, decision_id: &str, why: &str) {
    let outcome = OutcomeRequest {
        status: ExecutionStatus::NotExecuted,
        detail: Some(format!("observed by the gateway: {why}")),
        receipt: None,
        arguments: None,
        observed_by: Some(ObservedBy::Gateway),
    };
    send_report(client, decision_id, &outcome);
}

fn send_report(client: &GavelClient, decision_id: &str, outcome: &OutcomeRequest) {
    if let Err(e) = client.report_outcome(decision_id, outcome) {
        eprintln!("gavel gateway: the outcome of decision {decision_id} could not be recorded: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_calls_read_or_say_what_is_wrong() {
        let call = ToolCall::read(&json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 1}, "_meta": {"progressToken": "p1"}}}))
        .unwrap();
        assert_eq!(
            (call.name.as_str(), call.arguments, call.progress_token),
            ("add", Some(json!({"a": 1})), Some(json!("p1")))
        );
        let bare =
            ToolCall::read(&json!({"id": 5, "method": "tools/call", "params": {"name": "now"}})).unwrap();
        assert_eq!((bare.arguments, bare.progress_token), (None, None));
        let refused = ToolCall::read(&json!({"id": 6, "method": "tools/call", "params": {"arguments": {}}}))
            .unwrap_err();
        assert_eq!(
            (refused["id"].clone(), refused["error"]["code"].clone()),
            (json!(6), json!(jsonrpc::INVALID_PARAMS))
        );
        assert!(ToolCall::read(
            &json!({"id": 7, "method": "tools/call", "params": {"name": "x", "arguments": [1]}})
        )
        .is_err());
    }

    #[test]
    fn observations_name_the_status_and_digest_never_the_answer() {
        let timeout = Duration::from_secs(9);
        let ok = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "secret 42"}]}});
        let seen = observe(Some(&ok), Duration::from_millis(12), timeout);
        assert_eq!(seen.status, ExecutionStatus::Succeeded);
        assert!(
            seen.detail.starts_with("observed by the gateway: succeeded in 12 ms; answer sha256 "),
            "{}",
            seen.detail
        );
        assert!(seen.detail.ends_with(&answer_digest(&ok["result"])) && !seen.detail.contains("secret"));

        let tool_failed =
            json!({"id": 1, "result": {"content": [{"type": "text", "text": "secret"}], "isError": true}});
        let seen = observe(Some(&tool_failed), Duration::ZERO, timeout);
        assert_eq!(seen.status, ExecutionStatus::Failed);
        assert!(seen.detail.contains("the tool answered isError") && !seen.detail.contains("secret"));

        let error = json!({"id": 1, "error": {"code": -32603, "message": "boom"}});
        let seen = observe(Some(&error), Duration::ZERO, timeout);
        assert!(seen.detail.contains("failed with upstream error -32603: boom"), "{}", seen.detail);

        let seen = observe(None, Duration::from_secs(9), timeout);
        assert_eq!(seen.status, ExecutionStatus::Failed);
        assert!(seen.detail.contains("timed out") && seen.detail.contains("9000 ms"), "{}", seen.detail);
    }

    #[test]
    fn digests_are_of_the_canonical_form() {
        assert_eq!(
            answer_digest(&json!({"b": 1, "a": [true]})),
            answer_digest(&json!({"a": [true], "b": 1}))
        );
        // RFC 8785 of {"a":1}: the digest gavel gives the same arguments.
        assert_eq!(answer_digest(&json!({"a": 1})), hex::encode(Sha256::digest(br#"{"a":1}"#)));
        // Beyond 2^53: no canonical form; still a digest, never a panic.
        assert_eq!(answer_digest(&json!({"n": u64::MAX})).len(), 64);
    }

    #[test]
    fn a_denial_names_its_policy_and_reason() {
        let decision = DecideResponse {
            decision_id: "dec_1".into(),
            decision: Outcome::Deny,
            enforced: true,
            would_have: None,
            policies: vec![gavel_policy::PolicyRef {
                set_id: "team".into(),
                version: 2,
                policy_id: "no_wipe".into(),
            }],
            reasons: vec!["forbid no_wipe".into()],
            approval_id: None,
            seq: 9,
        };
        let text = denied_text("wipe_disk", &decision);
        assert_eq!(text, "gavel denied this call to wipe_disk. Policy: team/no_wipe (v2). Reason: forbid no_wipe. (decision dec_1)");
    }
}
