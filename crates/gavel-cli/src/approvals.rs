//! `gavel approvals`: the human side of held tool calls, over `/v1/approvals`.
//!
//! A `require_approval` decision opens one request. An approver or admin who is not the requester
//! (the agent's owner or the user it acts for) approves or denies it, once; it expires when nobody
//! does (default 1 h). The requesting agent, with its own token, reads the request back (`show
//! --wait` long-polls) and, once approved, gets a single-use receipt that it presents with
//! `gavel outcome`. Nobody else ever sees the receipt.

use crate::remote::{print_table, s, seg, show, Remote};
use clap::Subcommand;
use gavel_core::approvals::{Approval, ApprovalStatus, ApprovalVerdict};
use gavel_server::openapi::List;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// List approval requests, newest first (an agent token lists only that agent's own).
    List {
        /// Only requests with this status.
        #[arg(long, value_enum)]
        status: Option<ApprovalStatus>,
        /// At most this many, 1..=1000 (server default 100).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: Option<u32>,
        /// Print {"items": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Show one request: the held call (arguments as redacted by the server), its status and who
    /// decided it. With the requesting agent's token, an approved request shows its single-use
    /// receipt.
    Show {
        /// Approval id (`approval_id` of `gavel decide`).
        id: String,
        /// Long-poll: while the request is pending, wait up to this many seconds (at most 60) for
        /// a decision before answering.
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=60))]
        wait: Option<u64>,
        /// Print the server's object (with `receipt` for the requesting agent, once approved).
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending request: the agent may execute the call, once, with the exact arguments
    /// shown. Needs an approver or admin token of someone other than the requester.
    Approve {
        /// Approval id.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        comment: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Deny a pending request: the agent must not execute the call. Needs an approver or admin
    /// token of someone other than the requester.
    Deny {
        /// Approval id.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        comment: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, cmd: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ApprovalsCommand::List { status, limit, json } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(status) = status {
                query.push(("status", status.as_str().to_string()));
            }
            if let Some(limit) = limit {
                query.push(("limit", limit.to_string()));
            }
            show(remote.get("/v1/approvals", &query)?, json, |list: &List<Approval>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|a| {
                        vec![
                            s(&a.id),
                            s(&a.status),
                            s(&a.requested_at),
                            s(&a.expires_at),
                            s(&a.agent_name),
                            s(&a.tool),
                            s(&a.on_behalf_of),
                            s(&a.decided_by_name),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no approval requests match");
                } else {
                    print_table(
                        &[
                            "ID",
                            "STATUS",
                            "REQUESTED",
                            "EXPIRES",
                            "AGENT",
                            "TOOL",
                            "ON BEHALF OF",
                            "DECIDED BY",
                        ],
                        &rows,
                    );
                }
            })?;
        }
        ApprovalsCommand::Show { id, wait, json } => {
            let query: Vec<(&str, String)> = wait.map(|w| ("wait", w.to_string())).into_iter().collect();
            let answer = remote.get(&format!("/v1/approvals/{}", seg(&id)?), &query)?;
            show(answer, json, |approval: &Approval| {
                println!("approval {} for decision {}", s(&approval.id), s(&approval.decision_id));
                print_approval(approval, "  ", true);
                if approval.status == ApprovalStatus::Pending {
                    if let Some(w) = wait.filter(|w| *w > 0) {
                        println!("still pending after waiting {w} s");
                    }
                }
                if let Some(receipt) = &approval.receipt {
                    println!("  receipt:      {receipt}");
                    println!(
                        "(single use: present it when reporting the outcome, \
                         `gavel outcome {} --status succeeded --receipt {receipt}`)",
                        s(&approval.decision_id)
                    );
                }
            })?;
        }
        ApprovalsCommand::Approve { id, comment, json } => {
            show(decide(remote, &id, ApprovalVerdict::Approve, comment)?, json, |a: &Approval| {
                println!(
                    "approved {} ({} by agent {}): the agent may now execute it once, with its receipt",
                    s(&a.id),
                    s(&a.tool),
                    s(&a.agent_name)
                );
            })?;
        }
        ApprovalsCommand::Deny { id, comment, json } => {
            show(decide(remote, &id, ApprovalVerdict::Deny, comment)?, json, |a: &Approval| {
                println!(
                    "denied {} ({} by agent {}): the agent must not execute it",
                    s(&a.id),
                    s(&a.tool),
                    s(&a.agent_name)
                );
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn decide(
    remote: &Remote,
    id: &str,
    verdict: ApprovalVerdict,
    comment: Option<String>,
) -> anyhow::Result<Value> {
    let path = format!("/v1/approvals/{}/decide", seg(id)?);
    remote.post(&path, Some(json!({"decision": verdict, "comment": comment})))
}

/// The fields of an approval request, one per line under `indent` (shared with `audit trace`,
/// which prints the call itself above it: `call` false leaves out the tool, agent, owner, on
/// behalf of, resource, arguments and reasons). Never prints the receipt: the caller decides
/// whether it may be shown.
pub fn print_approval(a: &Approval, indent: &str, call: bool) {
    let line = |label: &str, value: String| println!("{indent}{:<13} {value}", format!("{label}:"));
    if call {
        line("tool", s(&a.tool));
        line("agent", format!("{} ({})", s(&a.agent_name), s(&a.agent_id)));
        line("owner", s(&a.owner));
        line("on behalf of", s(&a.on_behalf_of));
        if let Some(resource) = &a.resource {
            line("resource", s(resource));
        }
        line("arguments", compact(&a.arguments));
        for (i, r) in a.reasons.iter().enumerate() {
            if i == 0 {
                line("reasons", s(r));
            } else {
                println!("{indent}{:<13} {}", "", s(r));
            }
        }
    }
    line("status", s(&a.status));
    line("requested", format!("{} (expires {})", s(&a.requested_at), s(&a.expires_at)));
    if a.decided_at.is_some() || a.decided_by.is_some() {
        let verb = match a.status {
            ApprovalStatus::Approved => "approved by",
            ApprovalStatus::Denied => "denied by",
            _ => "decided by",
        };
        line(verb, format!("{} ({})", s(&a.decided_by_name), s(&a.decided_by)));
        line("decided at", s(&a.decided_at));
        line("comment", s(&a.comment));
    }
}

/// One-line JSON for arguments and other objects.
pub fn compact(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        other => serde_json::to_string(other).unwrap_or_else(|_| other.to_string()),
    }
}
