//! `gavel outcome` and `gavel findings`: what the agent actually did after a decision, checked
//! against what was decided (POST /v1/decisions/{id}/outcome, GET /v1/findings).
//!
//! The agent reports with its own token. A held call is reported with the single-use receipt of
//! its approval (`gavel approvals show`); the server binds it to the agent, the tool and the
//! arguments. Executing a denied call, or a held one without a valid receipt, is recorded and
//! flagged as a bypass finding; a reused or mismatched receipt is refused (HTTP 403, exit 4) and recorded as
//! a finding too.

use crate::remote::{print_table, s, seg, show, Remote};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use gavel_core::approvals::{ExecutionStatus, FindingView, ObservedBy, OutcomeRecord, RecordedOutcome};
use gavel_server::openapi::List;
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Args)]
pub struct OutcomeArgs {
    /// The decision id (`decision_id` of `gavel decide`).
    decision_id: String,
    /// What happened to the call.
    #[arg(long, value_enum)]
    status: ExecutionStatus,
    /// What happened, for the record (an error message, a message id).
    #[arg(long)]
    detail: Option<String>,
    /// The approval receipt of a held call (from `gavel approvals show`); single use.
    #[arg(long)]
    receipt: Option<String>,
    /// The arguments actually executed, as a JSON object; their digest must match the decided
    /// ones (default: the decided arguments).
    #[arg(long = "args", value_name = "JSON")]
    arguments: Option<String>,
    /// Print the recorded outcome.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum FindingsCommand {
    /// List bypass findings, newest first: executed denials, held calls run without a valid
    /// receipt, reused or mismatched receipts.
    List {
        /// Print {"items": [...]}.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge a finding: someone is looking into it (approver or admin, not the agent's owner).
    Acknowledge {
        /// The finding id (from `gavel findings list`).
        id: String,
        /// What was found so far (required).
        #[arg(long)]
        note: String,
        /// Print the finding as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Resolve a finding with what was done (approver or admin, not the agent's owner). Final; the
    /// finding stays in the record with its resolution.
    Resolve {
        /// The finding id (from `gavel findings list`).
        id: String,
        /// What was done (required).
        #[arg(long)]
        note: String,
        /// Print the finding as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(remote: &Remote, args: OutcomeArgs) -> anyhow::Result<ExitCode> {
    let mut body = json!({"status": args.status});
    if let Some(text) = &args.arguments {
        let v: Value = serde_json::from_str(text).context("--args is not valid JSON")?;
        if !v.is_object() {
            bail!("--args must be a JSON object, e.g. '{{\"to\": \"a@example.com\"}}'");
        }
        body["arguments"] = v;
    }
    if let Some(d) = &args.detail {
        body["detail"] = json!(d);
    }
    if let Some(r) = &args.receipt {
        body["receipt"] = json!(r);
    }
    let path = format!("/v1/decisions/{}/outcome", seg(&args.decision_id)?);
    show(remote.post(&path, Some(body))?, args.json, |outcome: &RecordedOutcome| {
        let o = &outcome.record;
        println!(
            "recorded outcome {} of decision {} (log seq {})",
            s(&o.status),
            s(&o.decision_id),
            outcome.seq
        );
        print_outcome(o, "  ");
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn findings(remote: &Remote, cmd: FindingsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FindingsCommand::List { json } => {
            show(remote.get("/v1/findings", &[])?, json, |list: &List<FindingView>| {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|view| {
                        let f = &view.finding;
                        vec![
                            s(&f.time),
                            s(&view.id),
                            s(&f.kind),
                            s(&f.status),
                            s(&f.agent_name),
                            s(&f.decision_id),
                            s(&view.seq),
                            s(&f.detail),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("no findings");
                } else {
                    print_table(
                        &["TIME", "ID", "KIND", "STATUS", "AGENT", "DECISION ID", "SEQ", "DETAIL"],
                        &rows,
                    );
                }
            })?;
        }
        FindingsCommand::Acknowledge { id, note, json } => update(remote, &id, "acknowledge", &note, json)?,
        FindingsCommand::Resolve { id, note, json } => update(remote, &id, "resolve", &note, json)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Acknowledges or resolves one finding and says what it is now.
fn update(remote: &Remote, id: &str, step: &str, note: &str, json: bool) -> anyhow::Result<()> {
    let answer = remote.post(&format!("/v1/findings/{}/{step}", seg(id)?), Some(json!({"note": note})))?;
    show(answer, json, |f: &FindingView| {
        println!("finding {id} is {} (log seq {})", s(&f.finding.status), f.seq);
    })
}

/// The fields of a recorded outcome, one per line under `indent` (shared with `audit trace`).
pub fn print_outcome(o: &OutcomeRecord, indent: &str) {
    let line = |label: &str, value: String| println!("{indent}{:<13} {value}", format!("{label}:"));
    line("status", s(&o.status));
    line("detail", s(&o.detail));
    line(
        "observed by",
        match o.observed_by {
            Some(ObservedBy::Gateway) => "gateway (the MCP gateway saw it run)".into(),
            Some(ObservedBy::Agent) | None => "agent (self-reported)".into(),
        },
    );
    line("reported at", s(&o.reported_at));
    line("decided", format!("{} (enforced: {})", s(&o.decision), o.enforced));
    line("receipt used", s(&o.receipt_used));
    line("args sha256", s(&o.executed_arguments_sha256));
    line("bypass", if o.bypass { "true: recorded as a finding".into() } else { "false".into() });
    if o.findings.is_empty() {
        line("findings", "-".into());
    }
    for (i, f) in o.findings.iter().enumerate() {
        if i == 0 {
            line("findings", s(f));
        } else {
            println!("{indent}{:<13} {}", "", s(f));
        }
    }
}
