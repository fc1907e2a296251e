//! `gavel approvals`: the human side of held tool calls, over `/v1/approvals`.
//!
//! A `require_approval` decision opens one request. An approver or admin who is not the requester
//! (the agent's owner or the user it acts for) approves or denies it, once; it expires when nobody
//! does (default 1 h). The requesting agent, with its own token, reads the request back (`show
//! --wait` long-polls) and, once approved, gets a single-use receipt that it presents with
//! `gavel outcome`. Nobody else ever sees the receipt.

use crate::remote::{items, print_table, s, seg, Remote};
use clap::Subcommand;
use gavel_core::approvals::ApprovalStatus;
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
            let list = remote.get("/v1/approvals", &query)?;
            if json {
                crate::print_json(&list);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = items(&list)
                .iter()
                .map(|a| {
                    ["id", "status", "requested_at", "expires_at", "agent_name", "tool", "on_behalf_of"]
                        .iter()
                        .map(|k| s(&a[*k]))
                        .chain([s(&a["decided_by_name"])])
                        .collect()
                })
                .collect();
            if rows.is_empty() {
                println!("no approval requests match");
            } else {
                print_table(
                    &["ID", "STATUS", "REQUESTED", "EXPIRES", "AGENT", "TOOL", "ON BEHALF OF", "DECIDED BY"],
                    &rows,
                );
            }
        }
        ApprovalsCommand::Show { id, wait, json } => {
            let query: Vec<(&str, String)> = wait.map(|w| ("wait", w.to_string())).into_iter().collect();
            let approval = remote.get(&format!("/v1/approvals/{}", seg(&id)?), &query)?;
            if json {
                crate::print_json(&approval);
                return Ok(ExitCode::SUCCESS);
            }
            println!("approval {} for decision {}", s(&approval["id"]), s(&approval["decision_id"]));
            print_approval(&approval, "  ");
            if approval["status"] == "pending" {
                if let Some(w) = wait.filter(|w| *w > 0) {
                    println!("still pending after waiting {w} s");
                }
            }
            if let Some(receipt) = approval["receipt"].as_str() {
                println!("  receipt:      {receipt}");
                println!(
                    "(single use: present it when reporting the outcome, \
                     `gavel outcome {} --status succeeded --receipt {receipt}`)",
                    s(&approval["decision_id"])
                );
            }
        }
        ApprovalsCommand::Approve { id, comment, json } => {
            let approval = decide(remote, &id, "approve", comment)?;
            if json {
                crate::print_json(&approval);
            } else {
                println!(
                    "approved {} ({} by agent {}): the agent may now execute it once, with its receipt",
                    s(&approval["id"]),
                    s(&approval["tool"]),
                    s(&approval["agent_name"])
                );
            }
        }
        ApprovalsCommand::Deny { id, comment, json } => {
            let approval = decide(remote, &id, "deny", comment)?;
            if json {
                crate::print_json(&approval);
            } else {
                println!(
                    "denied {} ({} by agent {}): the agent must not execute it",
                    s(&approval["id"]),
                    s(&approval["tool"]),
                    s(&approval["agent_name"])
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn decide(remote: &Remote, id: &str, decision: &str, comment: Option<String>) -> anyhow::Result<Value> {
    let path = format!("/v1/approvals/{}/decide", seg(id)?);
    remote.post(&path, Some(json!({"decision": decision, "comment": comment})))
}

/// The fields of an approval request, one per line under `indent` (shared with `audit trace`).
/// Never prints the receipt: the caller decides whether it may be shown.
pub fn print_approval(a: &Value, indent: &str) {
    let line = |label: &str, value: String| println!("{indent}{:<13} {value}", format!("{label}:"));
    if !a["tool"].is_null() {
        line("tool", s(&a["tool"]));
    }
    if !a["agent_name"].is_null() || !a["agent_id"].is_null() {
        line("agent", format!("{} ({})", s(&a["agent_name"]), s(&a["agent_id"])));
    }
    if !a["owner"].is_null() {
        line("owner", s(&a["owner"]));
    }
    if a.get("on_behalf_of").is_some() {
        line("on behalf of", s(&a["on_behalf_of"]));
    }
    if !a["resource"].is_null() {
        line("resource", s(&a["resource"]));
    }
    if let Some(args) = a.get("arguments") {
        line("arguments", compact(args));
    }
    let reasons = a["reasons"].as_array().map_or(&[][..], Vec::as_slice);
    for (i, r) in reasons.iter().enumerate() {
        if i == 0 {
            line("reasons", s(r));
        } else {
            println!("{indent}{:<13} {}", "", s(r));
        }
    }
    line("status", s(&a["status"]));
    line("requested", format!("{} (expires {})", s(&a["requested_at"]), s(&a["expires_at"])));
    if !a["decided_at"].is_null() || !a["decided_by"].is_null() {
        let verb = match a["status"].as_str() {
            Some("approved") => "approved by",
            Some("denied") => "denied by",
            _ => "decided by",
        };
        line(verb, format!("{} ({})", s(&a["decided_by_name"]), s(&a["decided_by"])));
        line("decided at", s(&a["decided_at"]));
        line("comment", s(&a["comment"]));
    }
}

/// One-line JSON for arguments and other objects.
pub fn compact(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        other => serde_json::to_string(other).unwrap_or_else(|_| other.to_string()),
    }
}
